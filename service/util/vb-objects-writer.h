/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Writes the body of an ObjectManager.GetManagedObjects reply,
 * (a{oa{sa{sv}}}), straight in GVariant's serialized form into one
 * buffer, from each object's already serialized a{sa{sv}}: no GVariant is
 * made per object, so a reply of 10,000 objects costs one buffer of its
 * own size instead of a tree of tens of thousands of GVariants.
 */
typedef struct _VbObjectsWriter VbObjectsWriter;

VbObjectsWriter *vb_objects_writer_new(gsize size_hint);
void vb_objects_writer_add(VbObjectsWriter *w, const char *path, GVariant *interfaces);
GVariant *vb_objects_writer_end(VbObjectsWriter *w);
guint vb_objects_writer_offset_size(gsize body, gsize n_offsets);
gsize vb_objects_writer_entry_size(const char *path, GVariant *interfaces);
void vb_objects_writer_add_one(VbObjectsWriter *w, const char *path, const char *iface,
                               GVariant *props);
gsize vb_objects_writer_entry_size_one(const char *path, const char *iface, GVariant *props);

G_END_DECLS
