/* Runs argv[1] children. Each one starts a thread that keeps rewriting the
 * argument string while the main thread execs /bin/echo with it, so the
 * arguments read at the execve entry may differ from those the kernel
 * copies. Each echo prints what it received. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char argument[64] = "benign-argument";

static void *rewrite(void *unused) {
    (void)unused;
    volatile char *first = argument;
    for (unsigned long i = 0;; i++) {
        /* Alternates between "benign-argument" and "henign-argument". */
        *first = i % 2 ? 'b' : 'h';
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int count = atoi(argv[1]);
    for (int i = 0; i < count; i++) {
        pid_t child = fork();
        if (child == 0) {
            pthread_t thread;
            pthread_create(&thread, NULL, rewrite, NULL);
            usleep(1000);
            char *child_argv[] = {"echo", argument, NULL};
            execv("/bin/echo", child_argv);
            _exit(127);
        }
        int status = 0;
        waitpid(child, &status, 0);
    }
    return 0;
}
