/* Makes one syscall of each kind the tracer reports that coreutils do not
   cover, inside the directory argv[1]. Calls that need privileges or kernel
   support may fail; the tracer reports them with their error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void sockets(void) {
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(server, (struct sockaddr *)&address, sizeof address);
    listen(server, 1);
    socklen_t length = sizeof address;
    getsockname(server, (struct sockaddr *)&address, &length);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    connect(client, (struct sockaddr *)&address, sizeof address);
    struct sockaddr_in peer;
    socklen_t peer_length = sizeof peer;
    int accepted = accept(server, (struct sockaddr *)&peer, &peer_length);
    close(accepted);
    close(client);
    close(server);
}

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1]) != 0) return 2;
    int directory = open(".", O_RDONLY | O_DIRECTORY);
    fchdir(directory);

    setuid(getuid());
    setgid(getgid());
    setresuid(-1, -1, -1);
    setresgid(-1, -1, -1);

    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &header, data);
    syscall(SYS_capset, &header, data);

    prctl(PR_SET_NAME, "sentrace-probe", 0, 0, 0);

    int memfd = memfd_create("sentrace-memfd", 0);
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", memfd);
    int reopened = open(proc_path, O_RDONLY);
    close(reopened);

    sockets();

    syscall(SYS_finit_module, -1, "", 0);
    syscall(SYS_delete_module, "sentrace_no_such_module", 0);
    unsigned char params[120];
    memset(params, 0, sizeof params);
    int ring = (int)syscall(SYS_io_uring_setup, 1, params);
    if (ring >= 0) close(ring);

    symlink("target", "symlink-name");
    int file = open("plain", O_CREAT | O_WRONLY, 0600);
    fchmod(file, 0600);
    close(file);
    link("plain", "hardlink");
    utimensat(AT_FDCWD, "plain", NULL, 0);
    mount("none", "/nonexistent-sentrace", "tmpfs", 0, NULL);
    umount2("/nonexistent-sentrace", 0);
    puts("done");
    return 0;
}
