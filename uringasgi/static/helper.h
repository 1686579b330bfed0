/* Work run on a helper thread, off the worker's loop: the static area's brotli copies (a 1 MiB file takes
 * about 55 ms at quality 5, which every other connection of the worker would otherwise wait out).
 *
 * The worker's thread submits a job and goes on. The helper thread runs job->run(job) and puts the job on a
 * done list; the worker's thread takes done jobs back with ua_helper_take() and finishes them itself. So
 * only run() happens on the helper, and whatever run() reads must stay unchanged until its job comes back.
 * One helper thread per queue, started with the first job. It blocks every signal: they stay the worker's,
 * whose loop they must wake. Internal to the static area; only the worker's thread calls these.
 */
#ifndef UA_STATIC_HELPER_H
#define UA_STATIC_HELPER_H

#define UA_HELPER_MAX_JOBS 64 /* submitted and not yet taken back; more is -EBUSY */

struct ua_job {
    struct ua_job *next;
    void (*run)(struct ua_job *j);
};

struct ua_helper;

/* Queue j on *hp, which is made (and its thread started) when NULL. 0, -EBUSY, -ECHILD (in a process
 * forked from the one whose helper it is: that thread is not there), or -errno. */
int ua_helper_submit(struct ua_helper **hp, struct ua_job *j);
/* The jobs done since the last take, as a list (NULL: none, or h is NULL). With wait, first waits until
 * every job submitted is done. Without it, no lock is taken when nothing is done. */
struct ua_job *ua_helper_take(struct ua_helper *h, int wait);
/* Stop the thread (after the job it is running) and free h. Returns every job not taken back yet, run or
 * not: the caller finishes them. NULL h: NULL. In a forked child, NULL and h is left as it is. */
struct ua_job *ua_helper_stop(struct ua_helper *h);

#endif
