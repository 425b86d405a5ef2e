/* Opens argv[1] through the i386 syscall entry (int 0x80, open = 5) from a
   64-bit program; the path is copied below 4 GiB so that a 32-bit pointer
   reaches it. Prints the raw result. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) { perror("mmap"); return 1; }
    strncpy(low, argv[1], 4095);
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "a"(5L), "b"((long)low), "c"(0L), "d"(0L) : "memory");
    printf("int80 open returned %s\n", result >= 0 ? "fd" : "error");
    return 0;
}
