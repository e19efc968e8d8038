/*
 * cli_json: the JSON mapping of fieldsync messages, generic over protobuf-c descriptors.
 *
 * Mapping (docs/cli.md, "JSON"): keys are the .proto field names; enums are their value names
 * ("CONSULTATION_FOCUS_GROUP"; an unknown number stays a number); 16-byte bytes fields are the
 * 36-char UUID text, other bytes are base64; repeated fields are arrays; nested messages are
 * objects; 64-bit integers are JSON numbers; NaN and infinities are the strings "NaN",
 * "Infinity", "-Infinity". Fields at their default value are left out unless asked for.
 * Parsing is strict: an unknown key, a value of the wrong type or out of range is an error
 * whose message names the path ("concerns[1].severity"). JSON -> protobuf -> JSON gives the same
 * JSON; doubles are written in their shortest form that reads back to the same bits.
 */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdio.h>

#include "cli_text.h"

#define CLI_JSON_ERRLEN 256

/* Flags for cli_json_from_pb. */
#define CLI_JSON_DEFAULTS 1u /* also emit fields at their default value */

/*
 * Build the JSON object for message m (new reference in *out, caller json_decref's it).
 * 0, FIELDSYNC_ENOMEM, or FIELDSYNC_EINVAL (m is not a valid message); err gets the detail.
 */
int cli_json_from_pb(const ProtobufCMessage *m, unsigned flags, json_t **out, char *err,
                     size_t errlen);

/*
 * Build a new message of type d from the JSON object j (caller frees it with
 * protobuf_c_message_free_unpacked(msg, NULL)). 0, FIELDSYNC_ESCHEMA (unknown key, wrong type,
 * out of range; err names the key path), or FIELDSYNC_ENOMEM.
 */
int cli_json_to_pb(const ProtobufCMessageDescriptor *d, const json_t *j, ProtobufCMessage **out,
                   char *err, size_t errlen);

/*
 * Replace one top-level field of m by its value given as text: a string field takes the text
 * as is; numbers, bools and enums (by name or number) take their JSON text; message and
 * repeated fields take JSON ("[]" clears a repeated field, "null" clears any field). Unknown
 * fields of m are kept. 0, FIELDSYNC_ENOTFOUND (no field of that name), FIELDSYNC_ESCHEMA,
 * FIELDSYNC_ENOMEM. On success *field (if non-NULL) is the field's descriptor.
 */
int cli_json_set_field(ProtobufCMessage *m, const char *name, const char *text,
                       const ProtobufCFieldDescriptor **field, char *err, size_t errlen);

/* Exchange the values of one field between two messages of the same type (no allocation). */
void cli_json_swap_field(ProtobufCMessage *a, ProtobufCMessage *b,
                         const ProtobufCFieldDescriptor *f);

/* Bytes one value of a field of type t takes in an unpacked message (an element of a
 * repeated field's array). */
size_t cli_json_type_size(ProtobufCType t);

/* The element id (bytes field named "id") of a message, or NULL if it has none/empty. */
const ProtobufCBinaryData *cli_json_element_id(const ProtobufCMessage *m);

#endif
