/* The leanest way to run a plugin and read its output: posix_spawn with stdout and stderr
 * on pipes, read both to the end, waitpid. Runs argv[2..] argv[1] times in a row and
 * prints the CPU seconds it used itself and its children used, as "self children".
 * The prober benchmark uses it as the plugin's own cost. */
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static double secs(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: spawn_baseline N plugin [args...]\n"); return 2; }
    long n = atol(argv[1]);
    char buf[8192];
    for (long i = 0; i < n; i++) {
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
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    printf("%.6f %.6f\n", secs(self.ru_utime) + secs(self.ru_stime), secs(kids.ru_utime) + secs(kids.ru_stime));
    return 0;
}
