/* Kernel feature probe: what the io_uring engine and the TLS path can use on this kernel.
 * Each feature is tried for real (a ring, a socket pair, a loopback connection) rather than guessed
 * from the kernel version, because distributions backport and containers restrict. */
#ifndef UA_PROBE_H
#define UA_PROBE_H

/* ua:cdef-begin */
struct ua_probe_result {
    char kernel[65];         /* uname release */
    int io_uring;            /* io_uring_setup works (not disabled by sysctl or seccomp) */
    int single_issuer;       /* IORING_SETUP_SINGLE_ISSUER (6.0) */
    int defer_taskrun;       /* IORING_SETUP_DEFER_TASKRUN (6.1) */
    int multishot_accept;    /* IORING_ACCEPT_MULTISHOT (5.19) */
    int multishot_recv;      /* IORING_RECV_MULTISHOT (6.0) */
    int buf_ring;            /* IORING_REGISTER_PBUF_RING (5.19) */
    int send_zc;             /* IORING_OP_SEND_ZC (6.0) */
    int ktls;                /* the "tls" TCP ULP can be attached (kernel TLS module present) */
};

int ua_probe(struct ua_probe_result *out);
/* ua:cdef-end */

#endif
