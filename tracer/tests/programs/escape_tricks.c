/* Opens argv[1], argv[2] and argv[3] in ways meant to slip past a tracer.
 * The first open runs a `syscall` instruction on a page mapped at run time.
 * The second follows PR_SET_DUMPABLE 0, which denies process_vm_readv to
 * unprivileged tracers. The third follows a personality(2) change.
 * Prints one line per open. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*raw_syscall3)(long nr, long a, long b, long c);

/* mov rax, rdi; mov rdi, rsi; mov rsi, rdx; mov rdx, rcx; syscall; ret */
static const unsigned char STUB[] = {0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89,
                                     0xd6, 0x48, 0x89, 0xca, 0x0f, 0x05, 0xc3};

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) { perror("mmap"); return 1; }
    memcpy(page, STUB, sizeof STUB);
    raw_syscall3 call = (raw_syscall3)page;
    long fd = call(SYS_openat, AT_FDCWD, (long)argv[1], O_RDONLY);
    printf("mapped-page %s\n", fd >= 0 ? "ok" : "failed");

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) { perror("prctl"); return 1; }
    fd = open(argv[2], O_RDONLY);
    printf("non-dumpable %s\n", fd >= 0 ? "ok" : "failed");

    if (personality(PER_LINUX32 | ADDR_NO_RANDOMIZE) < 0) { perror("personality"); return 1; }
    fd = open(argv[3], O_RDONLY);
    printf("personality %s\n", fd >= 0 ? "ok" : "failed");
    return 0;
}
