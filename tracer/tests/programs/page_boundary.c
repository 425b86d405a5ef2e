/* Opens a path whose terminating NUL is the last byte of a page followed
   by an unmapped page. argv[1] is the path. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return 1;
    munmap(area + page, page);
    size_t length = strlen(argv[1]) + 1;
    char *path = area + page - length;
    memcpy(path, argv[1], length);
    int fd = open(path, O_RDONLY);
    printf("open %s\n", fd >= 0 ? "ok" : "failed");
    return 0;
}
