/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Who called: what the layers below bus/ know of a D-Bus caller. */
typedef struct {
    gint refcount;
    char *sender; /* unique bus name */
    uid_t uid;
    pid_t pid;    /* 0 when unknown */
} VbCaller;

VbCaller *vb_caller_new(const char *sender, uid_t uid, pid_t pid);
VbCaller *vb_caller_ref(VbCaller *caller);
void vb_caller_unref(VbCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbCaller, vb_caller_unref)

G_END_DECLS
