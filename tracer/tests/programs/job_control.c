/* Stops and continues a child with SIGSTOP and SIGCONT and prints what
   waitpid reports, then kills it with SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    int status = 0;
    kill(child, SIGSTOP);
    waitpid(child, &status, WUNTRACED);
    printf("stopped=%d signal=%d\n", WIFSTOPPED(status), WIFSTOPPED(status) ? WSTOPSIG(status) : 0);
    kill(child, SIGCONT);
    waitpid(child, &status, WCONTINUED);
    printf("continued=%d\n", WIFCONTINUED(status));
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    printf("signaled=%d signal=%d\n", WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    fflush(stdout);
    return 0;
}
