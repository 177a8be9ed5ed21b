/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small rtnetlink client for the netdev library: one socket per request
 * (so any thread may call it, each call acts in the calling thread's network
 * namespace), requests built in a growing buffer with nested attributes, and
 * the kernel's extended ack text kept for error messages. Internal to
 * service/netdev/; other modules use the functions of netdev-link.h,
 * netdev-query.h and netdev-tap.h.
 */

#include <glib.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

G_BEGIN_DECLS

typedef struct {
    GByteArray *buf; /* the nlmsghdr, the family header, then attributes */
} VbNlMsg;

VbNlMsg *vb_nl_msg_new(guint16 type, guint16 flags, const void *hdr, gsize hdr_len);
void vb_nl_msg_free(VbNlMsg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbNlMsg, vb_nl_msg_free)

void vb_nl_msg_put(VbNlMsg *msg, guint16 type, const void *data, gsize len);
void vb_nl_msg_put_u8(VbNlMsg *msg, guint16 type, guint8 v);
void vb_nl_msg_put_u16(VbNlMsg *msg, guint16 type, guint16 v);
void vb_nl_msg_put_u32(VbNlMsg *msg, guint16 type, guint32 v);
void vb_nl_msg_put_str(VbNlMsg *msg, guint16 type, const char *s);
gsize vb_nl_msg_nest_start(VbNlMsg *msg, guint16 type);
void vb_nl_msg_nest_end(VbNlMsg *msg, gsize start);

/**
 * VbNlDumpFunc:
 * @nlh: one message of the reply
 * @user_data: the caller's data
 *
 * Called for each message of a dump reply (not for DONE or errors).
 */
typedef void (*VbNlDumpFunc)(const struct nlmsghdr *nlh, gpointer user_data);

int vb_nl_request(VbNlMsg *msg, char **out_reason);
int vb_nl_dump(VbNlMsg *msg, VbNlDumpFunc func, gpointer user_data, char **out_reason);

/* Attribute parsing: fills tb[0..max] with the attributes of a run. */
void vb_nl_parse_attrs(const struct rtattr *rta, int len, const struct rtattr **tb, int max);

G_END_DECLS
