/* vfork, then exec /bin/echo in the child; the parent returns its status. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = vfork();
    if (child == 0) {
        execl("/bin/echo", "echo", "vfork-child", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("child %d exited %d\n", (int)(child > 0), WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
