/* The load client's ceiling for the static file scenarios (bench only, never a server to use).
 *
 * It answers every request head on a keep-alive connection with one file, opened once: a status line and
 * Content-Length, then the file by sendfile(), as nginx sends it. Nothing else happens per request: no
 * parsing beyond finding the end of each head, no file lookup, no other headers. Whatever one wrk thread
 * reaches against it is the most that thread can take in at that response size on this machine; a server
 * measured near it is limited by the client, not by itself. (From memory, send() would copy every byte
 * on the server's CPU and hand wrk the data in smaller pieces, which costs wrk more reads.)
 *
 * usage: bare PORT FILE   (listens on 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 65536

struct conn {
    unsigned owed;  /* responses not fully sent yet */
    size_t off;     /* bytes of the current one sent, head included */
    int crlf;       /* how much of "\r\n\r\n" the last bytes read matched */
    int want_out;   /* EPOLLOUT is on */
};

static struct conn conns[MAX_FD];
static char head[128];
static size_t head_len, resp_len;
static int file_fd;

static void watch(int ep, int fd, int out)
{
    struct epoll_event e = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
    conns[fd].want_out = out;
}

static void drop(int fd)
{
    memset(&conns[fd], 0, sizeof(conns[fd]));
    close(fd); /* also leaves the epoll set */
}

/* Sends what is owed until the socket is full; 0, or -1 when the connection is gone. */
static int flush(int ep, int fd)
{
    struct conn *c = &conns[fd];
    while (c->owed) {
        ssize_t n;
        if (c->off < head_len) {
            n = send(fd, head + c->off, head_len - c->off, MSG_NOSIGNAL | MSG_MORE);
        } else {
            off_t at = (off_t)(c->off - head_len);
            n = sendfile(fd, file_fd, &at, resp_len - c->off);
        }
        if (n < 0 && errno == EAGAIN) {
            if (!c->want_out)
                watch(ep, fd, 1);
            return 0;
        }
        if (n <= 0)
            return -1;
        c->off += (size_t)n;
        if (c->off == resp_len) {
            c->off = 0;
            c->owed--;
        }
    }
    if (c->want_out)
        watch(ep, fd, 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bare PORT FILE\n");
        return 2;
    }
    /* sendfile() has no MSG_NOSIGNAL: a client that closes while a file is on its way (wrk, as a round
     * ends) would kill the process with SIGPIPE instead of failing that one send with EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    struct stat st;
    file_fd = open(argv[2], O_RDONLY);
    if (file_fd < 0 || fstat(file_fd, &st) < 0) {
        perror(argv[2]);
        return 1;
    }
    head_len = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n\r\n",
                                (long long)st.st_size);
    resp_len = head_len + (size_t)st.st_size;

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1024) < 0) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);
    struct epoll_event evs[256];
    char buf[16384];
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAX_FD) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                }
                continue;
            }
            struct conn *c = &conns[fd];
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                    drop(fd);
                    continue;
                }
                for (ssize_t j = 0; j < n; j++) { /* count the heads: each ends in CRLF CRLF */
                    char want = (c->crlf & 1) ? '\n' : '\r';
                    c->crlf = buf[j] == want ? c->crlf + 1 : buf[j] == '\r';
                    if (c->crlf == 4) {
                        c->owed++;
                        c->crlf = 0;
                    }
                }
            }
            if (flush(ep, fd) < 0)
                drop(fd);
        }
    }
}
