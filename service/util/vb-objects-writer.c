/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "vb-objects-writer.h"

/*
 * GVariant's serialized form (the GVariant specification, "Serialisation"),
 * as far as (a{oa{sa{sv}}}) needs it:
 * - a container of variable-size members ends with framing offsets: for an
 *   array, the end of every element; for a dict entry (a tuple), the end of
 *   every variable-size member but the last (here: the key's end);
 * - offsets are little-endian, all of one size, the smallest of 1, 2, 4
 *   or 8 bytes in which the container's whole size (offsets included)
 *   fits; a container of size 0 has none (the empty array);
 * - each element starts at its type's alignment relative to the start of
 *   its container (8 for {oa{sa{sv}}} and a{sa{sv}}, because of the v
 *   inside), padding is zero bytes;
 * - a tuple whose only member is of variable size is that member's bytes.
 * The result is in normal form when every a{sa{sv}} given is.
 */

#define ENTRY_ALIGN 8

struct _VbObjectsWriter {
    GByteArray *buf;
    GArray *ends; /* gsize: the end of each element, from the array's start */
};

static gsize
total_size(gsize body, gsize n_offsets, guint *out_offset_size)
{
    static const guint sizes[] = { 1, 2, 4 };
    static const guint64 limits[] = { G_MAXUINT8, G_MAXUINT16, G_MAXUINT32 };

    if (body == 0 && n_offsets == 0) {
        *out_offset_size = 0;
        return 0;
    }
    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        if ((guint64)body + (guint64)sizes[i] * n_offsets <= limits[i]) {
            *out_offset_size = sizes[i];
            return body + sizes[i] * n_offsets;
        }
    }
    *out_offset_size = 8;
    return body + 8 * n_offsets;
}

static void
put_offset(GByteArray *buf, guint64 value, guint size)
{
    guint8 le[8];

    for (guint i = 0; i < size; i++)
        le[i] = (guint8)(value >> (8 * i));
    g_byte_array_append(buf, le, size);
}

static void
pad_to(GByteArray *buf, gsize from, gsize align)
{
    static const guint8 zeros[ENTRY_ALIGN] = { 0 };
    gsize pad = (align - ((buf->len - from) % align)) % align;

    if (pad > 0)
        g_byte_array_append(buf, zeros, (guint)pad);
}

/**
 * vb_objects_writer_offset_size:
 *
 * The size of each framing offset of a container with @body bytes and
 * @n_offsets offsets (0, 1, 2, 4 or 8).
 */
guint
vb_objects_writer_offset_size(gsize body, gsize n_offsets)
{
    guint size;

    total_size(body, n_offsets, &size);
    return size;
}

/**
 * vb_objects_writer_new:
 * @size_hint: the body's expected size (0: unknown), to allocate once
 */
VbObjectsWriter *
vb_objects_writer_new(gsize size_hint)
{
    VbObjectsWriter *w = g_new0(VbObjectsWriter, 1);

    w->buf = g_byte_array_sized_new((guint)MIN(size_hint, G_MAXUINT));
    w->ends = g_array_new(FALSE, FALSE, sizeof(gsize));
    return w;
}

/**
 * vb_objects_writer_entry_size:
 *
 * An upper bound of the bytes vb_objects_writer_add() adds for this entry
 * (with its framing in the array), for vb_objects_writer_new()'s hint.
 */
gsize
vb_objects_writer_entry_size(const char *path, GVariant *interfaces)
{
    return ENTRY_ALIGN + strlen(path) + 1 + ENTRY_ALIGN + g_variant_get_size(interfaces) + 8 + 8;
}

/**
 * vb_objects_writer_add:
 * @path: a valid object path
 * @interfaces: an a{sa{sv}}, its serialized form is copied
 */
void
vb_objects_writer_add(VbObjectsWriter *w, const char *path, GVariant *interfaces)
{
    gsize start, key_end, body;
    gsize size = g_variant_get_size(interfaces);
    guint offset_size;

    g_return_if_fail(g_variant_is_object_path(path));
    g_return_if_fail(g_variant_is_of_type(interfaces, G_VARIANT_TYPE("a{sa{sv}}")));
    pad_to(w->buf, 0, ENTRY_ALIGN);
    start = w->buf->len;
    g_byte_array_append(w->buf, (const guint8 *)path, (guint)strlen(path) + 1);
    key_end = w->buf->len - start;
    pad_to(w->buf, start, ENTRY_ALIGN);
    if (size > 0)
        g_byte_array_append(w->buf, g_variant_get_data(interfaces), (guint)size);
    body = w->buf->len - start;
    total_size(body, 1, &offset_size);
    put_offset(w->buf, key_end, offset_size);
    {
        gsize end = w->buf->len;

        g_array_append_val(w->ends, end);
    }
}

/**
 * vb_objects_writer_end:
 *
 * Frees @w. Returns: (transfer floating): the (a{oa{sa{sv}}}) of every
 * entry added, in order.
 */
/*
 * Appends the dict entry {KEY VALUE} at the end of @buf, which is where the
 * entry starts (8-aligned): the key with its NUL, padding to 8, the value's
 * bytes, and the framing offset of the key's end, of the entry's own size.
 */
static void
put_entry(GByteArray *buf, const char *key, const void *value, gsize value_size)
{
    gsize start = buf->len, key_end, body;
    guint offset_size;

    g_byte_array_append(buf, (const guint8 *)key, (guint)strlen(key) + 1);
    key_end = buf->len - start;
    pad_to(buf, start, ENTRY_ALIGN);
    if (value_size > 0)
        g_byte_array_append(buf, value, (guint)value_size);
    body = buf->len - start;
    total_size(body, 1, &offset_size);
    put_offset(buf, key_end, offset_size);
}

/**
 * vb_objects_writer_entry_size_one:
 *
 * An upper bound of the bytes vb_objects_writer_add_one() appends.
 */
gsize
vb_objects_writer_entry_size_one(const char *path, const char *iface, GVariant *props)
{
    return ENTRY_ALIGN + strlen(path) + 1 + ENTRY_ALIGN + strlen(iface) + 1 + ENTRY_ALIGN +
           g_variant_get_size(props) + 8 * 4;
}

/**
 * vb_objects_writer_add_one:
 * @props: the properties of the object's one interface, a{sv}
 *
 * Appends the object @path with the single interface @iface, as
 * vb_objects_writer_add() with the a{sa{sv}} {@iface: @props} would, from
 * @props' serialized bytes as they are (no a{sa{sv}} made for it).
 */
void
vb_objects_writer_add_one(VbObjectsWriter *w, const char *path, const char *iface,
                          GVariant *props)
{
    gsize start, key_end, inner, body;
    guint offset_size;

    g_return_if_fail(g_variant_is_object_path(path));
    g_return_if_fail(g_variant_is_of_type(props, G_VARIANT_TYPE_VARDICT));
    pad_to(w->buf, 0, ENTRY_ALIGN);
    start = w->buf->len;
    g_byte_array_append(w->buf, (const guint8 *)path, (guint)strlen(path) + 1);
    key_end = w->buf->len - start;
    pad_to(w->buf, start, ENTRY_ALIGN);
    /* the value, a{sa{sv}} of one element: the entry, then its end as the array's one
     * framing offset */
    inner = w->buf->len;
    put_entry(w->buf, iface, g_variant_get_data(props), g_variant_get_size(props));
    {
        gsize array_body = w->buf->len - inner;

        total_size(array_body, 1, &offset_size);
        put_offset(w->buf, array_body, offset_size);
    }
    body = w->buf->len - start;
    total_size(body, 1, &offset_size);
    put_offset(w->buf, key_end, offset_size);
    {
        gsize end = w->buf->len;

        g_array_append_val(w->ends, end);
    }
}

GVariant *
vb_objects_writer_end(VbObjectsWriter *w)
{
    guint offset_size;
    GBytes *bytes;
    GVariant *v;

    total_size(w->buf->len, w->ends->len, &offset_size);
    for (guint i = 0; i < w->ends->len; i++)
        put_offset(w->buf, g_array_index(w->ends, gsize, i), offset_size);
    g_array_free(w->ends, TRUE);
    bytes = g_byte_array_free_to_bytes(w->buf);
    g_free(w);
    v = g_variant_new_from_bytes(G_VARIANT_TYPE("(a{oa{sa{sv}}})"), bytes, TRUE);
    g_bytes_unref(bytes);
    return v;
}
