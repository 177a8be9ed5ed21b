/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev-netlink.h"
#include "vb-error.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define NL_RECV_BUF 65536

static guint32 nl_seq;

/**
 * vb_nl_msg_new:
 * @type: RTM_* message type
 * @flags: NLM_F_* flags (NLM_F_REQUEST is added)
 * @hdr: the family header (ifinfomsg, ifaddrmsg, ...)
 * @hdr_len: its size
 *
 * Returns: (transfer full): a new request, free with vb_nl_msg_free().
 */
VbNlMsg *
vb_nl_msg_new(guint16 type, guint16 flags, const void *hdr, gsize hdr_len)
{
    VbNlMsg *msg = g_new0(VbNlMsg, 1);
    struct nlmsghdr nlh = {0};
    static const guint8 zero[NLMSG_ALIGNTO] = {0};

    nlh.nlmsg_type = type;
    nlh.nlmsg_flags = flags | NLM_F_REQUEST;
    msg->buf = g_byte_array_sized_new(512);
    g_byte_array_append(msg->buf, (const guint8 *)&nlh, sizeof(nlh));
    g_byte_array_append(msg->buf, hdr, hdr_len);
    g_byte_array_append(msg->buf, zero, NLMSG_ALIGN(hdr_len) - hdr_len);
    return msg;
}

/**
 * vb_nl_msg_free:
 * @msg: (nullable): a request
 */
void
vb_nl_msg_free(VbNlMsg *msg)
{
    if (msg == NULL)
        return;
    g_byte_array_unref(msg->buf);
    g_free(msg);
}

/**
 * vb_nl_msg_put:
 * @msg: a request
 * @type: attribute type
 * @data: (nullable): payload
 * @len: its length
 *
 * Appends one attribute, padded to the netlink alignment.
 */
void
vb_nl_msg_put(VbNlMsg *msg, guint16 type, const void *data, gsize len)
{
    struct rtattr rta;
    static const guint8 zero[RTA_ALIGNTO] = {0};

    rta.rta_type = type;
    rta.rta_len = RTA_LENGTH(len);
    g_byte_array_append(msg->buf, (const guint8 *)&rta, sizeof(rta));
    if (len > 0)
        g_byte_array_append(msg->buf, data, len);
    g_byte_array_append(msg->buf, zero, RTA_ALIGN(len) - len);
}

/**
 * vb_nl_msg_put_u8:
 * @msg: a request
 * @type: attribute type
 * @v: value
 */
void
vb_nl_msg_put_u8(VbNlMsg *msg, guint16 type, guint8 v)
{
    vb_nl_msg_put(msg, type, &v, sizeof(v));
}

/**
 * vb_nl_msg_put_u16:
 * @msg: a request
 * @type: attribute type
 * @v: value
 */
void
vb_nl_msg_put_u16(VbNlMsg *msg, guint16 type, guint16 v)
{
    vb_nl_msg_put(msg, type, &v, sizeof(v));
}

/**
 * vb_nl_msg_put_u32:
 * @msg: a request
 * @type: attribute type
 * @v: value
 */
void
vb_nl_msg_put_u32(VbNlMsg *msg, guint16 type, guint32 v)
{
    vb_nl_msg_put(msg, type, &v, sizeof(v));
}

/**
 * vb_nl_msg_put_str:
 * @msg: a request
 * @type: attribute type
 * @s: a string, sent with its terminating NUL
 */
void
vb_nl_msg_put_str(VbNlMsg *msg, guint16 type, const char *s)
{
    vb_nl_msg_put(msg, type, s, strlen(s) + 1);
}

/**
 * vb_nl_msg_nest_start:
 * @msg: a request
 * @type: the nesting attribute
 *
 * Returns: the offset to pass to vb_nl_msg_nest_end() once the nested
 * attributes are appended.
 */
gsize
vb_nl_msg_nest_start(VbNlMsg *msg, guint16 type)
{
    gsize start = msg->buf->len;

    vb_nl_msg_put(msg, type, NULL, 0);
    return start;
}

/**
 * vb_nl_msg_nest_end:
 * @msg: a request
 * @start: what vb_nl_msg_nest_start() returned
 */
void
vb_nl_msg_nest_end(VbNlMsg *msg, gsize start)
{
    struct rtattr *rta = (struct rtattr *)(msg->buf->data + start);

    rta->rta_len = msg->buf->len - start;
}

/**
 * vb_nl_parse_attrs:
 * @rta: first attribute
 * @len: bytes of attributes
 * @tb: (out caller-allocates): max + 1 slots, set to %NULL or the attribute
 * @max: highest attribute type kept
 */
void
vb_nl_parse_attrs(const struct rtattr *rta, int len, const struct rtattr **tb, int max)
{
    memset(tb, 0, sizeof(*tb) * (max + 1));
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        int t = rta->rta_type & ~NLA_F_NESTED;

        if (t <= max && tb[t] == NULL)
            tb[t] = rta;
    }
}

static int
nl_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    int one = 1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};

    if (fd < 0)
        return -1;
    /* best effort: older kernels do not give the reason as text */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int
nl_send(int fd, VbNlMsg *msg, guint32 *out_seq)
{
    struct nlmsghdr *nlh = (struct nlmsghdr *)msg->buf->data;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    ssize_t n;

    nlh->nlmsg_len = msg->buf->len;
    nlh->nlmsg_seq = g_atomic_int_add(&nl_seq, 1) + 1;
    *out_seq = nlh->nlmsg_seq;
    do {
        n = sendto(fd, msg->buf->data, msg->buf->len, 0, (struct sockaddr *)&sa, sizeof(sa));
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

/* The text the kernel attached to an error ack (NLMSGERR_ATTR_MSG), if any. */
static char *
nl_ext_ack_msg(const struct nlmsghdr *nlh)
{
    const struct nlmsgerr *err = NLMSG_DATA(nlh);
    gsize off = sizeof(*err);
    const struct rtattr *rta;
    int len;

    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        return NULL;
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
        off += err->msg.nlmsg_len - sizeof(err->msg);
    len = (int)nlh->nlmsg_len - (int)NLMSG_HDRLEN - (int)off;
    if (len <= 0)
        return NULL;
    rta = (const struct rtattr *)((const char *)err + off);
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == NLMSGERR_ATTR_MSG && RTA_PAYLOAD(rta) > 0)
            return g_strndup(RTA_DATA(rta), RTA_PAYLOAD(rta));
    }
    return NULL;
}

static int
nl_fail(int fd, int err, char **out_reason)
{
    if (fd >= 0)
        close(fd);
    if (out_reason)
        *out_reason = g_strdup(g_strerror(err));
    return err;
}

/*
 * Sends @msg on a new socket and reads the replies of its sequence number to the end: the
 * ack (NLMSG_ERROR) of a request, or (with @func) each message of a dump until NLMSG_DONE
 * (an error ack ends it too), or the one reply of a query without NLM_F_DUMP. Returns 0 or
 * the positive errno, with the kernel's reason (and its extended ack text) in @out_reason.
 */
static int
nl_exchange(VbNlMsg *msg, VbNlDumpFunc func, gpointer user_data, char **out_reason)
{
    int fd;
    guint32 seq;
    g_autofree guint8 *buf = NULL;
    gboolean dump = (((struct nlmsghdr *)msg->buf->data)->nlmsg_flags & NLM_F_DUMP) != 0;

    fd = nl_open();
    if (fd < 0 || nl_send(fd, msg, &seq) < 0)
        return nl_fail(fd, errno, out_reason);
    buf = g_malloc(NL_RECV_BUF);
    for (;;) {
        ssize_t n = recv(fd, buf, NL_RECV_BUF, 0);
        int len = (int)n;
        struct nlmsghdr *nlh;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return nl_fail(fd, n < 0 ? errno : EPROTO, out_reason);
        for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
            const struct nlmsgerr *err;
            g_autofree char *ext = NULL;
            int e;

            if (nlh->nlmsg_seq != seq)
                continue;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                err = NLMSG_DATA(nlh);
                close(fd);
                if (err->error == 0)
                    return 0;
                e = -err->error;
                ext = nl_ext_ack_msg(nlh);
                if (out_reason) {
                    *out_reason = ext ? g_strdup_printf("%s (%s)", g_strerror(e), ext)
                                      : g_strdup(g_strerror(e));
                }
                return e;
            }
            if (func == NULL)
                continue; /* a request waits for its ack */
            if (nlh->nlmsg_type == NLMSG_DONE) {
                close(fd);
                return 0;
            }
            func(nlh, user_data);
            if (!dump) {
                close(fd);
                return 0;
            }
        }
    }
}

/**
 * vb_nl_request:
 * @msg: a request (NLM_F_ACK is added)
 * @out_reason: (out) (optional) (transfer full): on failure, the kernel's
 *   reason as text ("File exists", plus its extended ack message)
 *
 * Sends @msg on a new NETLINK_ROUTE socket and waits for its ack. Any
 * thread; acts in the calling thread's network namespace.
 *
 * Returns: 0, or the positive errno of the failure.
 */
int
vb_nl_request(VbNlMsg *msg, char **out_reason)
{
    ((struct nlmsghdr *)msg->buf->data)->nlmsg_flags |= NLM_F_ACK;
    return nl_exchange(msg, NULL, NULL, out_reason);
}

/**
 * vb_nl_dump:
 * @msg: a request (with NLM_F_DUMP for a dump, without for one object)
 * @func: called for each reply message
 * @user_data: for @func
 * @out_reason: (out) (optional) (transfer full): on failure, the reason as text
 *
 * Runs a query to its end. Any thread; acts in the calling thread's network
 * namespace.
 *
 * Returns: 0, or the positive errno of the failure.
 */
int
vb_nl_dump(VbNlMsg *msg, VbNlDumpFunc func, gpointer user_data, char **out_reason)
{
    g_return_val_if_fail(func != NULL, EINVAL);
    return nl_exchange(msg, func, user_data, out_reason);
}
