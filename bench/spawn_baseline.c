/* The leanest way to run a plugin and read its output: posix_spawn with stdin on
 * /dev/null and stdout and stderr on pipes, read both to the end, waitpid.
 *
 *   spawn_baseline N plugin [args...]       N runs back to back
 *   spawn_baseline @STARTS plugin [args...] one run at each start time in the file STARTS
 *                                           (seconds from the first, one per line)
 *
 * Prints "self children runs median_wall_ms": the CPU seconds it used itself and its
 * children used, the runs, and the median time from spawn to reaped with all output read.
 * The prober benchmark replays the prober's own start times with it, so that the plugin
 * runs at the same pace (and with the same idle gaps, which cost caches) under both. */
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double secs(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: spawn_baseline N|@STARTS plugin [args...]\n"); return 2; }
    long n = 0;
    double *starts = NULL;
    if (argv[1][0] == '@') {
        FILE *f = fopen(argv[1] + 1, "r");
        if (!f) { perror(argv[1] + 1); return 1; }
        long cap = 1024;
        starts = malloc(cap * sizeof *starts);
        double t;
        while (fscanf(f, "%lf", &t) == 1) {
            if (n == cap) starts = realloc(starts, (cap *= 2) * sizeof *starts);
            starts[n++] = t;
        }
        fclose(f);
    } else {
        n = atol(argv[1]);
    }
    double *walls = malloc((n ? n : 1) * sizeof *walls);
    char buf[8192];
    double t0 = now();
    for (long i = 0; i < n; i++) {
        if (starts) {
            double at = t0 + starts[i], left = at - now();
            if (left > 0) {
                struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        double began = now();
        int out[2], err[2];
        if (pipe(out) || pipe(err)) { perror("pipe"); return 1; }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        posix_spawn_file_actions_addclose(&fa, err[0]);
        pid_t pid;
        if (posix_spawn(&pid, argv[2], &fa, NULL, argv + 2, environ)) { perror("spawn"); return 1; }
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        close(err[1]);
        struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
        int open_fds = 2;
        while (open_fds > 0 && poll(fds, 2, -1) > 0) {
            for (int k = 0; k < 2; k++) {
                if (fds[k].fd >= 0 && (fds[k].revents & (POLLIN | POLLHUP))) {
                    if (read(fds[k].fd, buf, sizeof buf) <= 0) { close(fds[k].fd); fds[k].fd = -1; open_fds--; }
                }
            }
        }
        int status;
        waitpid(pid, &status, 0);
        walls[i] = now() - began;
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    qsort(walls, n, sizeof *walls, by_value);
    double median = n ? (n % 2 ? walls[n / 2] : (walls[n / 2 - 1] + walls[n / 2]) / 2) : 0;
    printf("%.6f %.6f %ld %.6f\n", secs(self.ru_utime) + secs(self.ru_stime),
           secs(kids.ru_utime) + secs(kids.ru_stime), n, median * 1e3);
    return 0;
}
