/*
 * seal.h: authenticated encryption of single values of the local store (column-level
 * encryption; see lstore.c for which columns). A sealed value is
 *   0xE1 (format version) || 12-byte random nonce || ciphertext || 16-byte tag
 * with ChaCha20-Poly1305 under the store key; the associated data is a column label plus, where
 * the row has one, its record id, so that a value moved to another column or row fails to open.
 * No mbedtls type appears here: callers see bytes only.
 */
#ifndef FIELDSYNC_SEAL_H
#define FIELDSYNC_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN  32
#define SEAL_OVERHEAD (1 + 12 + 16)

/* Seal n bytes of plain into out (n + SEAL_OVERHEAD bytes, not overlapping plain). label is a
 * NUL-terminated column label, id a 16-byte row id or NULL. 0, or -1 when no random nonce could
 * be drawn. */
int seal_seal(const uint8_t key[SEAL_KEY_LEN], const char *label, const uint8_t *id,
              const uint8_t *plain, size_t n, uint8_t *out);

/* Open n sealed bytes of in into out (n - SEAL_OVERHEAD bytes). 0, or -1 when the value is not
 * a sealed value of this format or fails authentication (wrong key, label, id or content);
 * out is zeroed then. */
int seal_open(const uint8_t key[SEAL_KEY_LEN], const char *label, const uint8_t *id,
              const uint8_t *in, size_t n, uint8_t *out);

/* Zero n bytes in a way the compiler keeps. */
void seal_zero(void *p, size_t n);

#endif
