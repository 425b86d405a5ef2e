/* Installs a seccomp filter of its own, then opens argv[2] and prints how
 * the open ended. argv[1] names the filter:
 *   allow        every syscall is allowed
 *   trace-DATA   openat returns SECCOMP_RET_TRACE with the data value DATA
 *                (decimal), which without a tracer fails with ENOSYS
 *   user-notif   openat goes to a user-space supervisor (a child process
 *                that received the listener fd), which lets it continue
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long install(unsigned int action_for_openat, unsigned int flags) {
    struct sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action_for_openat),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {sizeof program / sizeof program[0], program};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); exit(1); }
    long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
    if (result < 0) { perror("seccomp"); exit(1); }
    return result;
}

static void report_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) printf("open=ok\n");
    else printf("open=%s\n", strerrorname_np(errno));
}

/* Replies to one notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE. */
static void supervise(int listener) {
    struct seccomp_notif request;
    struct seccomp_notif_resp response;
    memset(&request, 0, sizeof request);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) _exit(2);
    memset(&response, 0, sizeof response);
    response.id = request.id;
    response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response) != 0) _exit(3);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(argv[1], "allow") == 0) {
        install(SECCOMP_RET_ALLOW, 0);
        report_open(argv[2]);
    } else if (strncmp(argv[1], "trace-", 6) == 0) {
        unsigned int data = (unsigned int)strtoul(argv[1] + 6, NULL, 10);
        install(SECCOMP_RET_TRACE | (data & SECCOMP_RET_DATA), 0);
        report_open(argv[2]);
    } else if (strcmp(argv[1], "user-notif") == 0) {
        int listener = (int)install(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
        /* The supervisor is forked after the filter, so it has the filter
         * too, but it makes no openat. */
        pid_t supervisor = fork();
        if (supervisor == 0) supervise(listener);
        report_open(argv[2]);
        int status = 0;
        waitpid(supervisor, &status, 0);
        printf("supervisor=%d\n", WEXITSTATUS(status));
    } else {
        return 2;
    }
    return 0;
}
