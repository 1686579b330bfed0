/* The helper thread and its queue (see helper.h). */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "static/helper.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct ua_helper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or stop was asked */
    pthread_cond_t idle; /* a job is done */
    struct ua_job *head, *tail; /* queued, in submission order */
    struct ua_job *done;
    unsigned out;               /* submitted and not taken back */
    unsigned busy;              /* queued or running */
    int stop;
    atomic_int has_done;        /* read without the lock by ua_helper_take(h, 0) */
    pid_t pid;                  /* the process whose thread it is */
};

/* In a child forked from the worker (an app's own os.fork()) the thread is gone, and its lock may have
 * been held at the fork: the child leaves h alone. Its jobs out never come back there, so their entries
 * just keep UA_BR_MAKING (identity is served) and their references, freed with the process. */
static int forked(const struct ua_helper *h)
{
    return h->pid != getpid();
}

static void *helper_main(void *arg)
{
    struct ua_helper *h = arg;
    /* SCHED_IDLE: the thread shares its worker's CPU (a pinned worker's affinity is inherited), and at this
     * policy the scheduler runs it only in time the worker leaves idle, instead of giving it an equal share
     * (time slices of a few ms) while the worker has requests to answer. */
    struct sched_param idle = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->head && !h->stop)
            pthread_cond_wait(&h->work, &h->mu);
        if (h->stop)
            break;
        struct ua_job *j = h->head;
        h->head = j->next;
        if (!h->head)
            h->tail = NULL;
        pthread_mutex_unlock(&h->mu);
        j->run(j);
        pthread_mutex_lock(&h->mu);
        j->next = h->done;
        h->done = j;
        h->busy--;
        atomic_store_explicit(&h->has_done, 1, memory_order_release);
        pthread_cond_broadcast(&h->idle);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static int helper_new(struct ua_helper **hp)
{
    struct ua_helper *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->idle, NULL);
    /* The thread inherits the mask in force when it is made: every signal blocked, so none is delivered
     * to it instead of the worker's thread, which sleeps in io_uring_enter and must be woken by them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&h->thread, NULL, helper_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pthread_cond_destroy(&h->idle);
        pthread_cond_destroy(&h->work);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return -rc;
    }
    h->pid = getpid();
    *hp = h;
    return 0;
}

int ua_helper_submit(struct ua_helper **hp, struct ua_job *j)
{
    if (!*hp) {
        int rc = helper_new(hp);
        if (rc < 0)
            return rc;
    }
    struct ua_helper *h = *hp;
    if (forked(h))
        return -ECHILD;
    if (h->out >= UA_HELPER_MAX_JOBS) /* only this thread changes out: no lock needed to read it */
        return -EBUSY;
    j->next = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->tail)
        h->tail->next = j;
    else
        h->head = j;
    h->tail = j;
    h->out++;
    h->busy++;
    pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

struct ua_job *ua_helper_take(struct ua_helper *h, int wait)
{
    /* getpid() is a system call: asked only when there is something to take (serve() calls this each time) */
    if (!h || (!wait && !atomic_load_explicit(&h->has_done, memory_order_acquire)) || forked(h))
        return NULL;
    pthread_mutex_lock(&h->mu);
    while (wait && h->busy)
        pthread_cond_wait(&h->idle, &h->mu);
    struct ua_job *list = h->done;
    h->done = NULL;
    atomic_store_explicit(&h->has_done, 0, memory_order_relaxed);
    for (struct ua_job *j = list; j; j = j->next)
        h->out--;
    pthread_mutex_unlock(&h->mu);
    return list;
}

struct ua_job *ua_helper_stop(struct ua_helper *h)
{
    if (!h || forked(h))
        return NULL;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    struct ua_job *list = h->done;
    if (h->head) { /* the ones never run go back too */
        h->tail->next = list;
        list = h->head;
    }
    pthread_cond_destroy(&h->idle);
    pthread_cond_destroy(&h->work);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return list;
}
