/* Forks a child that waits on a pipe, optionally after dropping to uid
 * 65534, and reads a word of its memory with PTRACE_PEEKDATA. The call fails
 * under a tracer (the child already has one), but it is made. */
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int ready[2];
    if (pipe(ready) != 0) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        if (argc > 1 && strcmp(argv[1], "nobody") == 0 && setuid(65534) != 0) _exit(1);
        (void)write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char byte;
    if (read(ready[0], &byte, 1) != 1) return 1;
    (void)ptrace(PTRACE_PEEKDATA, child, (void *)0x1000, 0);
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    return 0;
}
