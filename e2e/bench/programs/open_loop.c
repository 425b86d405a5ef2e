/* Opens and closes /etc/hostname COUNT times (default 20000): one traced
 * open, with its exit stop, per iteration. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 20000;
    for (long i = 0; i < count; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd < 0)
            return 1;
        close(fd);
    }
    return 0;
}
