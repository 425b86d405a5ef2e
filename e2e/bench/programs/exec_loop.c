/* Forks and execs /bin/true COUNT times (default 500), waiting for each:
 * one fork, exec and exit event per iteration. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 500;
    for (long i = 0; i < count; i++) {
        pid_t child = fork();
        if (child < 0)
            return 1;
        if (child == 0) {
            execl("/bin/true", "true", (char *)0);
            _exit(127);
        }
        int status;
        if (waitpid(child, &status, 0) < 0 || status != 0)
            return 1;
    }
    return 0;
}
