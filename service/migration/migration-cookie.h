/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Migration cookies (protocol v3): small XML documents the phases pass
 * to each other through the client (or the peer-to-peer driver). Each
 * side says who it is; the features say which optional parts a cookie
 * carries. The receiving side never trusts a cookie further than its
 * parser: size and depth are bounded, unknown elements are ignored,
 * malformed values are InvalidArgument naming the element.
 */

#define VB_MIGRATION_COOKIE_MAX_SIZE (1024 * 1024)

/* The format's major version (<virtbus-migration version='1'>); another major is refused. */
#define VB_MIGRATION_COOKIE_VERSION 1
/* Elements nested deeper than this (the cookie and its embedded <domain>) are refused. */
#define VB_MIGRATION_COOKIE_MAX_DEPTH 64
/* Timestamps above this (9999-12-31T23:59:59.999Z in ms) are refused: differences fit a gint64. */
#define VB_MIGRATION_COOKIE_MAX_TIME G_GINT64_CONSTANT(253402300799999)

/* Hexadecimal digits of a <tunnel token='...'/> (128 bits). */
#define VB_MIGRATION_TUNNEL_TOKEN_LEN 32

typedef enum {
    VB_MIGRATION_COOKIE_GRAPHICS = 1 << 0,   /* <graphics>: where a display client goes */
    VB_MIGRATION_COOKIE_NBD = 1 << 1,        /* <nbd>: the destination's NBD server */
    VB_MIGRATION_COOKIE_STATS = 1 << 2,      /* <statistics>: timestamps and figures */
    VB_MIGRATION_COOKIE_PERSISTENT = 1 << 3, /* <persistent>: definition to keep */
    VB_MIGRATION_COOKIE_MULTIFD = 1 << 4,    /* <multifd>: what both QEMUs must agree on */
    VB_MIGRATION_COOKIE_TUNNEL = 1 << 5,     /* <tunnel>: the one-time token of the ssh data path */
} VbMigrationCookieFeatures;

typedef struct {
    char *target;       /* disk target (vda, sdb, ...) */
    guint64 capacity;   /* bytes, 0 when unknown */
    /* storage copy (issue 11, part nbd): from the source (Begin) with NON_SHARED_INC */
    char *backing;        /* nullable: absolute path of the image's backing file */
    char *backing_format; /* nullable: its format (qcow2, raw, ...) */
} VbMigrationCookieDisk;

typedef struct {
    char *hostname;     /* the sender's host name */
    char host_uuid[37]; /* the sender's host UUID */
    char *name;         /* domain name */
    char uuid[37];      /* domain UUID */
    guint features;     /* VbMigrationCookieFeatures present */

    /* GRAPHICS */
    char *graphics_type;   /* "vnc", "spice" */
    int graphics_port;     /* -1 when none */
    int graphics_tls_port; /* -1 when none */
    char *graphics_listen; /* nullable */

    /* NBD */
    int nbd_port;          /* -1 when none */
    char *nbd_host;        /* nullable: address of the NBD server */
    GArray *nbd_disks;     /* VbMigrationCookieDisk; nullable */

    /* STATS: wall-clock ms since the epoch, 0 when unknown */
    gint64 started;        /* source: the migration began (Begin/Perform) */
    gint64 stopped;        /* source: the vCPUs stopped for the switch-over */
    gint64 sent;           /* sender: the cookie left this host */
    gint64 delivered;      /* receiver: the cookie arrived (set by the parser's caller) */
    guint64 downtime_ms;   /* QEMU's downtime figure, 0 when unknown */
    guint64 total_ms;      /* QEMU's total time, 0 when unknown */
    guint64 data_total;    /* bytes */
    guint64 data_processed;
    guint64 memory_bps;    /* bytes/s */

    /* MULTIFD: parallel connections (1..255) and their compression */
    int multifd_channels;      /* 0 when not set */
    char *multifd_compression; /* "none", "zlib", "zstd"; NULL when not set */

    /* PERSISTENT */
    char *persistent_xml;  /* the definition to make persistent on the destination */

    /* TUNNEL (issue 11, part tunnel2): the destination's one-time token for
     * Manager.MigrateTunnelAttach, 32 lowercase hex digits; NULL when not set */
    char *tunnel_token;
} VbMigrationCookie;

VbMigrationCookie *vb_migration_cookie_new(void);
void vb_migration_cookie_free(VbMigrationCookie *cookie);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbMigrationCookie, vb_migration_cookie_free)

/* Appends a disk to the NBD list (sets the NBD feature). */
void vb_migration_cookie_add_disk(VbMigrationCookie *cookie, const char *target,
                                  guint64 capacity);

/*
 * Formats the cookie as XML bytes (no trailing NUL in the bytes; "sent" is
 * stamped with the current time when STATS is set).
 */
GBytes *vb_migration_cookie_format(VbMigrationCookie *cookie);

/*
 * Parses a cookie. Empty data gives NULL with InvalidArgument
 * ("empty migration cookie"). Sets "delivered" to the current time.
 * One trailing NUL (a C string's, as GLib's bytestring "ay" has) is
 * allowed; any other NUL, non-UTF-8, DOCTYPE, more than MAX_SIZE bytes or
 * MAX_DEPTH levels is refused.
 */
VbMigrationCookie *vb_migration_cookie_parse(const guint8 *data, gsize len, GError **error);

/* As above, with the clock given: "sent" (format) / "delivered" (parse) become @now_ms. */
GBytes *vb_migration_cookie_format_at(VbMigrationCookie *cookie, gint64 now_ms);
VbMigrationCookie *vb_migration_cookie_parse_at(const guint8 *data, gsize len, gint64 now_ms,
                                                GError **error);

/*
 * Sets the definition to make persistent (sets PERSISTENT): @xml must be one
 * well-formed <domain> element (an XML declaration, comments and blanks around
 * it are dropped); the element is kept byte for byte, so the receiver's
 * persistent_xml is exactly what the sender's domain formatter wrote.
 * InvalidArgument when @xml is not such a document.
 */
gboolean vb_migration_cookie_set_persistent(VbMigrationCookie *cookie, const char *xml,
                                            GError **error);

/* "graphics", "nbd", "statistics", "persistent", "multifd", "tunnel" (the
 * <feature name=...> values), or NULL. */
const char *vb_migration_cookie_feature_to_string(VbMigrationCookieFeatures feature);

/*
 * Checks that a cookie comes from another host and describes the domain
 * it is meant for: InvalidArgument when @cookie's host_uuid equals
 * @local_host_uuid ("the source and destination are the same host ..."),
 * or when @uuid (nullable) differs from the cookie's domain UUID.
 */
gboolean vb_migration_cookie_check(const VbMigrationCookie *cookie, const char *local_host_uuid,
                                   const char *uuid, GError **error);

/*
 * Total time and downtime of a migration that ended at @finished (wall ms,
 * the destination resumed the vCPUs), from the source's timestamps in
 * @cookie. The hosts' clocks may differ: the time the cookie spent between
 * "sent" and "delivered" is not counted (libvirt's estimate), and when a
 * figure would come out negative or absurd (the clocks differ by more than
 * the migration took) the figure falls back to QEMU's own (downtime_ms,
 * total_ms). *out_estimated is TRUE whenever the clock correction was
 * needed (delivered < sent, or the figure fell back).
 *
 * Precisely (docs/migration.md): with sent and delivered known, total =
 * (sent - started) + (finished - delivered) and downtime = (sent - stopped)
 * + (finished - delivered): two spans, each on one host's clock, so no clock
 * offset enters; a lower bound of the truth by the cookie's time in flight.
 * Without them, the plain differences finished - started / - stopped. A
 * figure whose timestamps are missing, that is negative, or that is below
 * QEMU's own (which it must contain) is QEMU's figure instead (0 when QEMU's
 * is unknown too). *out_estimated is TRUE when a figure fell back, when
 * delivered < sent (the destination's clock is behind), or when
 * delivered - sent exceeds the total (ahead by more than the migration
 * took). Outputs may be NULL. Any thread.
 */
void vb_migration_cookie_times(const VbMigrationCookie *cookie, gint64 finished,
                               guint64 *out_total_ms, guint64 *out_downtime_ms,
                               gboolean *out_estimated);

G_END_DECLS
