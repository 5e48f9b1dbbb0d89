/* The lightest HTTP target the load benchmarks use (issue 6): a single-threaded epoll loop on 127.0.0.1 that
 * answers every request with the same 200 response, so that as much of a 2-core machine as possible is left to
 * the load generators under test. It parses nothing but the blank line that ends a request (GET requests without
 * a body, as the benchmark's locustfile sends), supports keep-alive and pipelining, and keeps one number: the
 * requests it answered, served as text on a second port (status_port) for the benchmark to read.
 *
 *   cc -O2 -o load_responder load_responder.c && ./load_responder PORT STATUS_PORT MAX_SECONDS
 *
 * It binds 127.0.0.1 only, exits after MAX_SECONDS, and dies with its parent (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_FDS 65536
#define MAX_BATCH 64

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nhello, chaoskit\n";
static unsigned char matched[MAX_FDS]; /* per connection: how much of "\r\n\r\n" the last bytes matched */

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4096) < 0) return -1;
    return fd;
}

static void watch(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Count the requests that end in buf: every "\r\n\r\n", carried over reads in *state. */
static int count_requests(const char *buf, ssize_t n, unsigned char *state) {
    static const char END[] = "\r\n\r\n";
    int requests = 0;
    unsigned char s = *state;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == END[s]) {
            if (++s == 4) {
                requests++;
                s = 0;
            }
        } else {
            s = buf[i] == '\r' ? 1 : 0;
        }
    }
    *state = s;
    return requests;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT STATUS_PORT MAX_SECONDS\n", argv[0]);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    int port = atoi(argv[1]), status_port = atoi(argv[2]);
    time_t deadline = time(NULL) + atol(argv[3]);
    int lfd = listen_on(port), sfd = listen_on(status_port), ep = epoll_create1(0);
    if (lfd < 0 || sfd < 0 || ep < 0) {
        perror("load_responder");
        return 1;
    }
    watch(ep, lfd);
    watch(ep, sfd);
    unsigned long long served = 0;
    static char buf[65536], out[sizeof RESPONSE * 256];
    struct epoll_event events[MAX_BATCH];
    printf("ready %d %d\n", port, status_port);
    fflush(stdout);
    while (time(NULL) < deadline) {
        int ready = epoll_wait(ep, events, MAX_BATCH, 1000);
        for (int e = 0; e < ready; e++) {
            int fd = events[e].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    if (c >= MAX_FDS) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    matched[c] = 0;
                    watch(ep, c);
                }
                continue;
            }
            if (fd == sfd) {
                int c = accept(sfd, NULL, NULL);
                if (c >= 0) {
                    char body[32], reply[160];
                    int len = snprintf(body, sizeof body, "%llu\n", served);
                    len = snprintf(reply, sizeof reply,
                                   "HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len, body);
                    if (write(c, reply, len) < 0) { /* the reader went away: nothing to do */ }
                    close(c);
                }
                continue;
            }
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                close(fd); /* also leaves the epoll set */
                continue;
            }
            int requests = count_requests(buf, n, &matched[fd]);
            while (requests > 0) {
                int batch = requests > 256 ? 256 : requests;
                for (int i = 0; i < batch; i++) memcpy(out + i * (sizeof RESPONSE - 1), RESPONSE, sizeof RESPONSE - 1);
                if (write(fd, out, batch * (sizeof RESPONSE - 1)) < 0) break;
                served += batch;
                requests -= batch;
            }
        }
    }
    return 0;
}
