/* Creates a child with clone3 that opens the path in argv[1] and exits 3. */
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child < 0) { perror("clone3"); return 1; }
    if (child == 0) {
        int fd = open(argv[1], O_RDONLY);
        syscall(SYS_exit_group, fd >= 0 ? 3 : 4);
    }
    int status = 0;
    waitpid((pid_t)child, &status, 0);
    printf("clone3 child exited %d\n", WEXITSTATUS(status));
    return 0;
}
