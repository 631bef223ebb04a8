/* An LD_PRELOAD shim for tests/slow_lookup.rs: a name lookup of any name ending in
 * ".slow.test" sleeps USTB_SLOW_DNS_MS (default 8000) milliseconds, then resolves to 127.0.0.1,
 * or fails when the name starts with "fail.". Each such lookup is appended as a line to the
 * file USTB_SLOW_DNS_LOG, if set. Every other lookup goes to the real getaddrinfo. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int is_slow(const char *node) {
    static const char suffix[] = ".slow.test";
    size_t n = node ? strlen(node) : 0, s = sizeof suffix - 1;
    return n >= s && strcmp(node + n - s, suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (!is_slow(node)) {
        return real(node, service, hints, res);
    }
    const char *log = getenv("USTB_SLOW_DNS_LOG");
    if (log) {
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "%s\n", node);
            fclose(f);
        }
    }
    const char *ms_text = getenv("USTB_SLOW_DNS_MS");
    long ms = ms_text ? atol(ms_text) : 8000;
    struct timespec delay = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&delay, &delay) != 0) {
    }
    if (strncmp(node, "fail.", 5) == 0) {
        return EAI_NONAME;
    }
    return real("127.0.0.1", service, hints, res);
}
