/* Opens argv[1] through name_to_handle_at and open_by_handle_at, so that
 * no syscall names the path when it is opened; reads it and exits 0. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct file_handle *handle = malloc(sizeof *handle + MAX_HANDLE_SZ);
    if (handle == NULL) return 2;
    handle->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    if (name_to_handle_at(AT_FDCWD, argv[1], handle, &mount_id, 0) != 0) {
        perror("name_to_handle_at");
        return 3;
    }
    int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
    int fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
    if (fd < 0) {
        perror("open_by_handle_at");
        return 4;
    }
    char byte;
    return read(fd, &byte, 1) == 1 ? 0 : 5;
}
