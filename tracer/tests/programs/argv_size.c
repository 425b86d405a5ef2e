/* Prints the number of arguments, their total length and the value of
 * HOME, so a test can check that the workload received its whole argument
 * list and environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t total = 0;
    for (int i = 0; i < argc; i++) total += strlen(argv[i]);
    const char *home = getenv("HOME");
    printf("argc=%d bytes=%zu home=%s\n", argc, total, home ? home : "");
    return 0;
}
