/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean vb_store_write_atomic(const char *path, const char *data, gssize len, int mode,
                               GError **error);
gboolean vb_store_remove(const char *path, GError **error);

typedef struct {
    char *path;
    char *contents;
} VbStoreEntry;

void vb_store_entry_free(VbStoreEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbStoreEntry, vb_store_entry_free)

guint vb_store_remove_stale_temps(const char *dir);
gboolean vb_store_is_temp_name(const char *name);
GPtrArray *vb_store_read_dir(const char *dir, const char *suffix, GError **error);

/* Test hook: the writing process _exit()s at this point, as a crash would. */
typedef enum {
    VB_STORE_CRASH_NONE,
    VB_STORE_CRASH_AFTER_WRITE,  /* temp file written, not yet renamed */
    VB_STORE_CRASH_AFTER_RENAME, /* renamed, directory not yet synced */
} VbStoreCrashPoint;

void vb_store_test_set_crash_point(VbStoreCrashPoint point);

G_END_DECLS
