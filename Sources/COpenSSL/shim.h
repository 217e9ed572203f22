#ifndef PGWIRE_COPENSSL_SHIM_H
#define PGWIRE_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/md5.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/objects.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/socket.h>

// Wrappers for OpenSSL macros (Swift imports functions, not function-like macros) and a socket BIO
// that never raises SIGPIPE (MSG_NOSIGNAL, or SO_NOSIGPIPE on Darwin), so a server that went away
// yields EPIPE rather than SIGPIPE.

static inline int pgwire_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int pgwire_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline void pgwire_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { SSL_CTX_set_mode(ctx, mode); }
static inline void pgwire_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes) { SSL_CTX_set_read_ahead(ctx, yes); }
static inline int pgwire_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int pgwire_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
/// The NID of the group the handshake's key exchange used (0 when none).
static inline int pgwire_SSL_get_negotiated_group(SSL *ssl) { return (int)SSL_get_negotiated_group(ssl); }
/// SSL_group_to_name's argument for a TLS group code point (IANA TLS Supported Groups).
static inline int pgwire_group_id_from_codepoint(unsigned short codepoint) { return TLSEXT_nid_unknown | (int)codepoint; }
static inline int pgwire_TLS1_VERSION(void) { return TLS1_VERSION; }
static inline int pgwire_TLS1_1_VERSION(void) { return TLS1_1_VERSION; }
static inline int pgwire_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int pgwire_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }
static inline long pgwire_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }
static inline long pgwire_SSL_MODE_ENABLE_PARTIAL_WRITE(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline uint64_t pgwire_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t pgwire_SSL_OP_NO_SSLv2_SSLv3(void) { return SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3; }
static inline uint64_t pgwire_SSL_OP_IGNORE_UNEXPECTED_EOF(void) {
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    return SSL_OP_IGNORE_UNEXPECTED_EOF;
#else
    return 0;
#endif
}
static inline unsigned long pgwire_X509_V_FLAG_CRL_CHECK_ALL(void) { return X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL; }
static inline int pgwire_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
static inline int pgwire_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }

/// 1 when an OpenSSL error reason means "no protocol version in common" (libpq's hint about
/// ssl_min_protocol_version / ssl_max_protocol_version).
static inline int pgwire_is_protocol_version_error(unsigned long e) {
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) return 0;
    switch (ERR_GET_REASON(e)) {
#ifdef SSL_R_NO_PROTOCOLS_AVAILABLE
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
#endif
#ifdef SSL_R_UNSUPPORTED_PROTOCOL
    case SSL_R_UNSUPPORTED_PROTOCOL:
#endif
#ifdef SSL_R_BAD_PROTOCOL_VERSION_NUMBER
    case SSL_R_BAD_PROTOCOL_VERSION_NUMBER:
#endif
#ifdef SSL_R_UNKNOWN_SSL_VERSION
    case SSL_R_UNKNOWN_SSL_VERSION:
#endif
#ifdef SSL_R_UNSUPPORTED_SSL_VERSION
    case SSL_R_UNSUPPORTED_SSL_VERSION:
#endif
#ifdef SSL_R_WRONG_SSL_VERSION
    case SSL_R_WRONG_SSL_VERSION:
#endif
#ifdef SSL_R_WRONG_VERSION_NUMBER
    case SSL_R_WRONG_VERSION_NUMBER:
#endif
#ifdef SSL_R_TLSV1_ALERT_PROTOCOL_VERSION
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
#endif
#ifdef SSL_R_VERSION_TOO_HIGH
    case SSL_R_VERSION_TOO_HIGH:
#endif
#ifdef SSL_R_VERSION_TOO_LOW
    case SSL_R_VERSION_TOO_LOW:
#endif
        return 1;
    default:
        return 0;
    }
}

// MARK: Socket BIO without SIGPIPE

// Linux: MSG_NOSIGNAL on every send. Darwin has no MSG_NOSIGNAL: the socket carries SO_NOSIGPIPE
// instead (set by Platform.socket, Sources/PostgresWire/Transport/Platform.swift).
#ifdef MSG_NOSIGNAL
#define PGWIRE_SEND_NOSIGNAL MSG_NOSIGNAL
#else
#define PGWIRE_SEND_NOSIGNAL 0
#endif

static inline int pgwire_bio_read(BIO *bio, char *buffer, int length) {
    int fd = -1;
    BIO_get_fd(bio, &fd);
    BIO_clear_retry_flags(bio);
    ssize_t n = recv(fd, buffer, (size_t)length, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(bio);
    return (int)n;
}

/// Output a BIO holds back instead of sending (BIO data pointer; NULL = send every write at once).
typedef struct {
    unsigned char *data;
    size_t length, capacity;
    int holding;
} pgwire_held_output;

static inline int pgwire_bio_write(BIO *bio, const char *buffer, int length) {
    BIO_clear_retry_flags(bio);
    pgwire_held_output *held = (pgwire_held_output *)BIO_get_data(bio);
    if (held != NULL && held->holding && length >= 0) {
        size_t needed = held->length + (size_t)length;
        if (needed > held->capacity) {
            size_t capacity = held->capacity < 1024 ? 1024 : held->capacity;
            while (capacity < needed) capacity *= 2;
            unsigned char *grown = (unsigned char *)realloc(held->data, capacity);
            if (grown == NULL) { errno = ENOMEM; return -1; }
            held->data = grown;
            held->capacity = capacity;
        }
        memcpy(held->data + held->length, buffer, (size_t)length);
        held->length = needed;
        return length;
    }
    int fd = -1;
    BIO_get_fd(bio, &fd);
    ssize_t n = send(fd, buffer, (size_t)length, PGWIRE_SEND_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
    return (int)n;
}

/// From now on `bio` collects what is written to it until pgwire_bio_release. 0 when out of memory
/// (writes then keep going out at once).
static inline int pgwire_bio_hold(BIO *bio) {
    pgwire_held_output *held = (pgwire_held_output *)BIO_get_data(bio);
    if (held == NULL) {
        held = (pgwire_held_output *)calloc(1, sizeof(pgwire_held_output));
        if (held == NULL) return 0;
        BIO_set_data(bio, held);
    }
    held->holding = 1;
    return 1;
}

/// Sends what `bio` holds, in one send when the socket takes it, and keeps holding later writes
/// when `keep_holding`. 1: all sent; 0: the socket would block (call again once writable; the rest
/// stays held); -1: error (errno).
static inline int pgwire_bio_release(BIO *bio, int keep_holding) {
    pgwire_held_output *held = (pgwire_held_output *)BIO_get_data(bio);
    if (held == NULL) return 1;
    held->holding = 1;  // until everything held is out, later writes queue behind it
    int fd = -1;
    BIO_get_fd(bio, &fd);
    size_t sent = 0;
    while (sent < held->length) {
        ssize_t n = send(fd, held->data + sent, held->length - sent, PGWIRE_SEND_NOSIGNAL);
        if (n < 0) {
            int saved = errno;
            if (sent > 0) memmove(held->data, held->data + sent, held->length - sent);
            held->length -= sent;
            errno = saved;
            if (saved == EINTR) { sent = 0; continue; }
            return (saved == EAGAIN || saved == EWOULDBLOCK) ? 0 : -1;
        }
        sent += (size_t)n;
    }
    held->length = 0;
    held->holding = keep_holding;
    if (!keep_holding) {
        free(held->data);
        held->data = NULL;
        held->capacity = 0;
    }
    return 1;
}

/// Whether `bio` holds bytes not sent yet.
static inline int pgwire_bio_holds_output(BIO *bio) {
    pgwire_held_output *held = (pgwire_held_output *)BIO_get_data(bio);
    return held != NULL && held->length > 0;
}

static inline int pgwire_bio_destroy(BIO *bio) {
    pgwire_held_output *held = (pgwire_held_output *)BIO_get_data(bio);
    if (held != NULL) {
        free(held->data);
        free(held);
        BIO_set_data(bio, NULL);
    }
    int (*socket_destroy)(BIO *) = BIO_meth_get_destroy(BIO_s_socket());
    return socket_destroy != NULL ? socket_destroy(bio) : 1;
}

static inline int pgwire_bio_puts(BIO *bio, const char *text) {
    return pgwire_bio_write(bio, text, (int)strlen(text));
}

/// A BIO_METHOD like BIO_s_socket() but with the read/write above; free with BIO_meth_free.
static inline BIO_METHOD *pgwire_bio_method_new(void) {
    const BIO_METHOD *socket_method = BIO_s_socket();
    BIO_METHOD *method = BIO_meth_new(BIO_TYPE_SOCKET, "pgwire socket");
    if (method == NULL) return NULL;
    if (!BIO_meth_set_write(method, pgwire_bio_write) || !BIO_meth_set_read(method, pgwire_bio_read) ||
        !BIO_meth_set_puts(method, pgwire_bio_puts) ||
        !BIO_meth_set_gets(method, BIO_meth_get_gets(socket_method)) ||
        !BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(socket_method)) ||
        !BIO_meth_set_create(method, BIO_meth_get_create(socket_method)) ||
        !BIO_meth_set_destroy(method, pgwire_bio_destroy) ||
        !BIO_meth_set_callback_ctrl(method, BIO_meth_get_callback_ctrl(socket_method))) {
        BIO_meth_free(method);
        return NULL;
    }
    return method;
}

/// A BIO over `fd` (not closed by the BIO) using `method`.
static inline BIO *pgwire_bio_new_socket(BIO_METHOD *method, int fd) {
    BIO *bio = BIO_new(method);
    if (bio == NULL) return NULL;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    return bio;
}

// MARK: Certificates

/// The subjectAltName entries of a certificate (NULL when it has none); free with pgwire_sans_free.
static inline void *pgwire_sans_get(X509 *cert) {
    return X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}
static inline int pgwire_sans_count(void *sans) {
    return sans == NULL ? 0 : sk_GENERAL_NAME_num((STACK_OF(GENERAL_NAME) *)sans);
}
/// Entry `index`: returns its type (GEN_DNS, GEN_IPADD, ...) and, for those two, its bytes.
static inline int pgwire_sans_entry(void *sans, int index, const unsigned char **data, int *length) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value((STACK_OF(GENERAL_NAME) *)sans, index);
    *data = NULL;
    *length = 0;
    if (name == NULL) return -1;
    if (name->type == GEN_DNS && name->d.dNSName != NULL) {
        *data = ASN1_STRING_get0_data(name->d.dNSName);
        *length = ASN1_STRING_length(name->d.dNSName);
    } else if (name->type == GEN_IPADD && name->d.iPAddress != NULL) {
        *data = ASN1_STRING_get0_data(name->d.iPAddress);
        *length = ASN1_STRING_length(name->d.iPAddress);
    }
    return name->type;
}
static inline void pgwire_sans_free(void *sans) {
    if (sans != NULL) GENERAL_NAMES_free((GENERAL_NAMES *)sans);
}
static inline int pgwire_GEN_DNS(void) { return GEN_DNS; }
static inline int pgwire_GEN_IPADD(void) { return GEN_IPADD; }

/// The first commonName of the subject: its bytes, or 0 when there is none.
static inline int pgwire_common_name(X509 *cert, const unsigned char **data, int *length) {
    X509_NAME *subject = X509_get_subject_name(cert);
    *data = NULL;
    *length = 0;
    if (subject == NULL) return 0;
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) return 0;
    ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    if (value == NULL) return 0;
    *data = ASN1_STRING_get0_data(value);
    *length = ASN1_STRING_length(value);
    return 1;
}

/// The digest tls-server-end-point uses (RFC 5929 4.1): the certificate's signature hash, with MD5
/// and SHA-1 upgraded to SHA-256. NULL when the signature algorithm has no single hash (e.g. Ed25519).
static inline const EVP_MD *pgwire_server_end_point_digest(X509 *cert) {
    int md_nid = NID_undef;
    if (!X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL)) return NULL;
    if (md_nid == NID_md5 || md_nid == NID_sha1) return EVP_sha256();
    if (md_nid == NID_undef) return NULL;
    return EVP_get_digestbynid(md_nid);
}

static inline int pgwire_EVP_MAX_MD_SIZE(void) { return EVP_MAX_MD_SIZE; }
#endif
