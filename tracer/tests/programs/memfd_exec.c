/* Copies the program argv[1] into a memfd named "payload" and runs it with
 * fexecve (execveat with AT_EMPTY_PATH), passing the rest of argv. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int source = open(argv[1], O_RDONLY);
    int memory = memfd_create("payload", MFD_CLOEXEC);
    if (source < 0 || memory < 0) {
        perror("open");
        return 3;
    }
    char buffer[65536];
    ssize_t count;
    while ((count = read(source, buffer, sizeof buffer)) > 0) {
        if (write(memory, buffer, (size_t)count) != count) return 3;
    }
    syscall(SYS_execveat, memory, "", argv + 1, environ, AT_EMPTY_PATH);
    perror("execveat");
    return 4;
}
