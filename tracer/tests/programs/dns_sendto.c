/* Resolves a name the way musl's resolver does: one UDP query sent with
   sendto(fd, ..., server:53) on an unconnected socket, then recvfrom.
   Usage: dns_sendto SERVER_IP NAME [PORT]
   Prints the response bytes in hex. With PORT, connects over TCP to the
   address in the last 4 bytes of the response (the test server puts the A
   record last) and prints whether the connect succeeded. Exits 1 when no
   response comes within 3 seconds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Writes NAME as DNS labels at OUT; returns the bytes written, 0 on error. */
static size_t encode_name(const char *name, unsigned char *out, size_t size) {
    size_t used = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t length = dot ? (size_t)(dot - name) : strlen(name);
        if (length == 0 || length > 63 || used + length + 2 > size)
            return 0;
        out[used++] = (unsigned char)length;
        memcpy(out + used, name, length);
        used += length;
        name += length + (dot ? 1 : 0);
    }
    out[used++] = 0;
    return used;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVER_IP NAME [PORT]\n", argv[0]);
        return 2;
    }
    unsigned char query[512] = {0x5e, 0x47, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t name_length = encode_name(argv[2], query + 12, sizeof query - 16);
    if (name_length == 0) {
        fprintf(stderr, "invalid name %s\n", argv[2]);
        return 2;
    }
    size_t length = 12 + name_length;
    const unsigned char type_and_class[4] = {0, 1, 0, 1};
    memcpy(query + length, type_and_class, 4);
    length += 4;

    struct sockaddr_in server;
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_port = htons(53);
    inet_pton(AF_INET, argv[1], &server.sin_addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval timeout = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (sendto(fd, query, length, 0, (struct sockaddr *)&server, sizeof server) < 0) {
        perror("sendto");
        return 1;
    }
    unsigned char response[4096];
    ssize_t received = recvfrom(fd, response, sizeof response, 0, NULL, NULL);
    if (received < 0) {
        perror("recvfrom");
        return 1;
    }
    close(fd);
    printf("response:");
    for (ssize_t index = 0; index < received; index++)
        printf("%02x", response[index]);
    printf("\n");

    if (argc > 3 && received >= 4) {
        struct sockaddr_in peer;
        memset(&peer, 0, sizeof peer);
        peer.sin_family = AF_INET;
        peer.sin_port = htons((unsigned short)atoi(argv[3]));
        memcpy(&peer.sin_addr, response + received - 4, 4);
        int client = socket(AF_INET, SOCK_STREAM, 0);
        int result = connect(client, (struct sockaddr *)&peer, sizeof peer);
        printf("connect %s\n", result == 0 ? "ok" : "failed");
        close(client);
    }
    fflush(stdout);
    return 0;
}
