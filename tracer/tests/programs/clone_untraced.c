/* Creates children and threads with CLONE_UNTRACED in every way a program
 * can ask for it. Each child opens argv[1] (a traced syscall) and exits 3
 * when the open succeeded, 4 when it failed. Prints one line per case with
 * the child's exit status, so a run with and without a tracer can be
 * compared. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *marker;
static volatile int thread_result;

static int open_marker(void) {
    int fd = open(marker, O_RDONLY);
    if (fd >= 0) close(fd);
    return fd >= 0 ? 3 : 4;
}

static int child_main(void *unused) {
    (void)unused;
    syscall(SYS_exit_group, open_marker());
    return 0;
}

static int thread_main(void *unused) {
    (void)unused;
    thread_result = open_marker();
    /* Leaves the thread only, not the process. */
    syscall(SYS_exit, 0);
    return 0;
}

static int wait_status(long child) {
    int status = 0;
    if (waitpid((pid_t)child, &status, __WALL) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *new_stack(void) {
    size_t size = 1 << 20;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { perror("mmap"); exit(1); }
    return stack + size;
}

/* glibc's wrapper: clone(fn, stack, flags, arg). */
static void glibc_clone(void) {
    long child = clone(child_main, new_stack(), CLONE_UNTRACED | SIGCHLD, NULL);
    if (child < 0) { perror("clone"); exit(1); }
    printf("glibc-clone %d\n", wait_status(child));
}

/* The raw syscall: clone(flags, stack, parent_tid, child_tid, tls) on x86_64. */
static void raw_clone(void) {
    long child = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (child < 0) { perror("raw clone"); exit(1); }
    if (child == 0) syscall(SYS_exit_group, open_marker());
    printf("raw-clone %d\n", wait_status(child));
}

/* A vfork-style clone: the parent sleeps until the child exits. */
static void vfork_clone(void) {
    int flags = CLONE_VM | CLONE_VFORK | CLONE_UNTRACED | SIGCHLD;
    long child = clone(child_main, new_stack(), flags, NULL);
    if (child < 0) { perror("vfork clone"); exit(1); }
    printf("vfork-clone %d\n", wait_status(child));
}

/* A thread of this process: CLONE_THREAD with CLONE_UNTRACED. */
static void thread_clone(void) {
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                CLONE_SYSVSEM | CLONE_UNTRACED | CLONE_CHILD_CLEARTID;
    static volatile pid_t tid_word = 1;
    long tid = clone(thread_main, new_stack(), flags, NULL, NULL, NULL, &tid_word);
    if (tid < 0) { perror("thread clone"); exit(1); }
    /* The kernel clears tid_word when the thread exits. */
    for (int i = 0; tid_word != 0 && i < 5000; i++) usleep(1000);
    printf("thread-clone %d\n", thread_result);
}

static void clone3_child(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_UNTRACED;
    args.exit_signal = SIGCHLD;
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child < 0) { perror("clone3"); exit(1); }
    if (child == 0) syscall(SYS_exit_group, open_marker());
    printf("clone3 %d flags-after=%llx\n", wait_status(child),
           (unsigned long long)args.flags);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    marker = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);
    glibc_clone();
    raw_clone();
    vfork_clone();
    thread_clone();
    clone3_child();
    return 0;
}
