/* Tries PTRACE_TRACEME and PTRACE_ATTACH on a child; prints whether each
   call succeeded. Under any tracer both fail. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    long traceme = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    printf("traceme %s\n", traceme == 0 ? "ok" : strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    long attach = ptrace(PTRACE_ATTACH, child, NULL, NULL);
    printf("attach %s\n", attach == 0 ? "ok" : strerror(errno));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
