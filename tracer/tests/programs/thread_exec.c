/* Execs /bin/echo from a thread that is not the thread group leader. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *run_exec(void *unused) {
    (void)unused;
    execl("/bin/echo", "echo", "exec-from-thread", (char *)NULL);
    perror("execl");
    return NULL;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, NULL, run_exec, NULL);
    pthread_join(thread, NULL);
    return 1;
}
