/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Migration cookies: the small XML documents the protocol v3 phases pass to
 * each other (docs/migration.md, "Migration cookies"). A cookie comes from
 * another host, so the parser trusts nothing: the size, depth, encoding,
 * every required element and every value are checked, and each failure is
 * InvalidArgument naming the element and the value. Unknown elements and
 * attributes are ignored, so a newer sender may add some.
 */
#include "config.h"

#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "domain-def.h"
#include "migration-cookie.h"
#include "vb-error.h"

#define ROOT_NAME "virtbus-migration"
#define MAX_TEXT 1024 /* bytes of a name, host name, address or disk target */
#define SHOWN 64      /* characters of a bad value repeated in an error message */

static const struct {
    VbMigrationCookieFeatures flag;
    const char *name; /* the <feature name=...> and the element carrying it */
} features[] = {
    { VB_MIGRATION_COOKIE_GRAPHICS, "graphics" },
    { VB_MIGRATION_COOKIE_NBD, "nbd" },
    { VB_MIGRATION_COOKIE_STATS, "statistics" },
    { VB_MIGRATION_COOKIE_PERSISTENT, "persistent" },
    { VB_MIGRATION_COOKIE_MULTIFD, "multifd" },
    { VB_MIGRATION_COOKIE_TUNNEL, "tunnel" },
};

/**
 * vb_migration_cookie_feature_to_string:
 * @feature: one #VbMigrationCookieFeatures bit
 *
 * Returns: (transfer none): the feature's name in the cookie, or %NULL
 */
const char *
vb_migration_cookie_feature_to_string(VbMigrationCookieFeatures feature)
{
    for (guint i = 0; i < G_N_ELEMENTS(features); i++) {
        if (features[i].flag == feature)
            return features[i].name;
    }
    return NULL;
}

static void
disk_clear(gpointer p)
{
    VbMigrationCookieDisk *disk = p;

    g_free(disk->target);
    g_free(disk->backing);
    g_free(disk->backing_format);
}

/**
 * vb_migration_cookie_new:
 *
 * Returns: (transfer full): an empty cookie: no features, ports -1, times 0
 */
VbMigrationCookie *
vb_migration_cookie_new(void)
{
    VbMigrationCookie *cookie = g_new0(VbMigrationCookie, 1);

    cookie->graphics_port = -1;
    cookie->graphics_tls_port = -1;
    cookie->nbd_port = -1;
    return cookie;
}

/**
 * vb_migration_cookie_free:
 * @cookie: (nullable): a cookie
 */
void
vb_migration_cookie_free(VbMigrationCookie *cookie)
{
    if (cookie == NULL)
        return;
    g_free(cookie->hostname);
    g_free(cookie->name);
    g_free(cookie->graphics_type);
    g_free(cookie->graphics_listen);
    g_free(cookie->multifd_compression);
    g_free(cookie->tunnel_token);
    g_free(cookie->nbd_host);
    if (cookie->nbd_disks != NULL)
        g_array_unref(cookie->nbd_disks);
    g_free(cookie->persistent_xml);
    g_free(cookie);
}

/**
 * vb_migration_cookie_add_disk:
 * @cookie: a cookie
 * @target: the disk's target (vda, sdb, ...)
 * @capacity: its size in bytes, 0 when unknown
 *
 * Appends a disk to the NBD list and sets the NBD feature.
 */
void
vb_migration_cookie_add_disk(VbMigrationCookie *cookie, const char *target, guint64 capacity)
{
    VbMigrationCookieDisk disk = { g_strdup(target), capacity };

    g_return_if_fail(cookie != NULL && target != NULL);
    if (cookie->nbd_disks == NULL) {
        cookie->nbd_disks = g_array_new(FALSE, TRUE, sizeof(VbMigrationCookieDisk));
        g_array_set_clear_func(cookie->nbd_disks, disk_clear);
    }
    g_array_append_val(cookie->nbd_disks, disk);
    cookie->features |= VB_MIGRATION_COOKIE_NBD;
}

/* ---- reading XML ------------------------------------------------------------------- */

/* A bad value as an error message shows it: at most SHOWN characters, no control chars. */
static char *
shown(const char *value)
{
    g_autofree char *cut = NULL;
    GString *s;

    if (value == NULL)
        return g_strdup("");
    cut = g_utf8_strlen(value, -1) > SHOWN ? g_utf8_substring(value, 0, SHOWN) : g_strdup(value);
    s = g_string_new(cut);
    for (gsize i = 0; i < s->len; i++) {
        if ((guchar)s->str[i] < 0x20 || s->str[i] == 0x7f)
            s->str[i] = '?';
    }
    if (strlen(cut) < strlen(value))
        g_string_append(s, "...");
    return g_string_free(s, FALSE);
}

/*
 * The parser's state: the first libxml2 error, the element depth (refused past
 * VB_MIGRATION_COOKIE_MAX_DEPTH) and the byte span of one element, recorded
 * from the SAX callbacks so that it can be handed on byte for byte: the first
 * element at depth @span_depth (1 is the root) whose parent, when
 * @span_parent is set, is the root's child of that name.
 */
typedef struct {
    const char *data;
    gsize len;
    int error_line;
    char *error_message;
    guint depth;
    gboolean too_deep;
    gboolean doctype;
    char *other_encoding;
    guint span_depth;
    const char *span_parent;
    gboolean in_parent;
    gboolean span_open;
    gboolean span_found;
    gsize span_begin;
    gsize span_end;
} ReadState;

static void
keep_first_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxt *ctxt = data;
    ReadState *st = ctxt->_private;

    if (st->error_message != NULL || e == NULL || e->level < XML_ERR_ERROR)
        return;
    st->error_line = e->line;
    st->error_message = g_strstrip(g_strdup(e->message != NULL ? e->message : "unknown error"));
}

/* A DOCTYPE stops the parser before its declarations (entities) are read at all. */
static void
on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = ctx;
    ReadState *st = ctxt->_private;

    st->doctype = TRUE;
    xmlStopParser(ctxt);
}

static gboolean
is_name(const xmlChar *local, const xmlChar *uri, const char *name)
{
    return uri == NULL && g_strcmp0((const char *)local, name) == 0;
}

static void
on_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
         int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
         const xmlChar **attributes)
{
    xmlParserCtxt *ctxt = ctx;
    ReadState *st = ctxt->_private;
    long pos;

    /* a declared encoding other than UTF-8 makes libxml2 convert: the bytes the caller
     * checked are not what is parsed, and the recorded offsets would be wrong */
    if (st->depth == 0 && ctxt->input != NULL && ctxt->input->buf != NULL &&
        ctxt->input->buf->encoder != NULL) {
        st->other_encoding = g_strdup(ctxt->encoding != NULL ? (const char *)ctxt->encoding
                                                             : ctxt->input->buf->encoder->name);
        xmlStopParser(ctxt);
        return;
    }
    if (++st->depth > VB_MIGRATION_COOKIE_MAX_DEPTH) {
        st->too_deep = TRUE;
        xmlStopParser(ctxt);
        return;
    }
    xmlSAX2StartElementNs(ctx, local, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
    if (st->span_parent != NULL && st->depth == 2)
        st->in_parent = is_name(local, uri, st->span_parent);
    if (st->depth != st->span_depth || st->span_found || st->span_open ||
        (st->span_parent != NULL && !st->in_parent))
        return;
    /* the position is inside or at the end of the start tag, which holds no '<' */
    pos = xmlByteConsumed(ctxt);
    if (pos <= 0 || (gsize)pos > st->len)
        return;
    for (gsize i = (gsize)pos; i > 0; i--) {
        if (st->data[i - 1] == '<') {
            st->span_begin = i - 1;
            st->span_open = TRUE;
            break;
        }
    }
}

static void
on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxt *ctxt = ctx;
    ReadState *st = ctxt->_private;

    xmlSAX2EndElementNs(ctx, local, prefix, uri);
    if (st->depth == st->span_depth && st->span_open) {
        long pos = xmlByteConsumed(ctxt); /* after the end tag's '>' */

        st->span_open = FALSE;
        if (pos > 0 && (gsize)pos <= st->len && (gsize)pos > st->span_begin &&
            st->data[pos - 1] == '>') {
            st->span_end = (gsize)pos;
            st->span_found = TRUE;
        }
    }
    if (st->depth == 2)
        st->in_parent = FALSE;
    st->depth--;
}

/*
 * An encoding declaration must say UTF-8: with another one libxml2 would convert the
 * bytes (and report conversion errors on stderr rather than to the parser's context).
 * Returns the other encoding's name, or NULL.
 */
static char *
declared_encoding(const char *data, gsize len)
{
    const char *end, *p, *q;
    char quote;

    if (len < 6 || strncmp(data, "<?xml", 5) != 0 || !g_ascii_isspace(data[5]))
        return NULL;
    end = g_strstr_len(data, (gssize)MIN(len, 512), "?>");
    if (end == NULL)
        return NULL; /* malformed: libxml2 says so */
    p = g_strstr_len(data, end - data, "encoding");
    if (p == NULL)
        return NULL;
    p += strlen("encoding");
    while (p < end && g_ascii_isspace(*p))
        p++;
    if (p >= end || *p++ != '=')
        return NULL;
    while (p < end && g_ascii_isspace(*p))
        p++;
    if (p >= end || (*p != '\'' && *p != '"'))
        return NULL;
    quote = *p++;
    q = memchr(p, quote, (gsize)(end - p));
    if (q == NULL)
        return NULL;
    if ((q - p == 5 && g_ascii_strncasecmp(p, "UTF-8", 5) == 0) ||
        (q - p == 4 && g_ascii_strncasecmp(p, "UTF8", 4) == 0))
        return NULL;
    return g_strndup(p, (gsize)(q - p));
}

/*
 * Parses @data (UTF-8, checked by the caller) without network access, entity
 * expansion or DTDs; @what names the document in errors. Fills @st's span.
 */
static xmlDoc *
read_doc(const char *data, gsize len, const char *what, ReadState *st, GError **error)
{
    xmlParserCtxt *ctxt;
    xmlDoc *doc;

    st->data = data;
    st->len = len;
    st->other_encoding = declared_encoding(data, len);
    if (st->other_encoding != NULL) {
        g_autofree char *s = shown(st->other_encoding);

        g_clear_pointer(&st->other_encoding, g_free);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s must be UTF-8, it declares the encoding '%s'", what, s);
        return NULL;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot allocate XML parser");
        return NULL;
    }
    ctxt->_private = st;
    ctxt->sax->serror = keep_first_error;
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    ctxt->sax->internalSubset = on_doctype;
    /* no XML_PARSE_NOENT (entity expansion), no XML_PARSE_HUGE, no DTD loading, no network */
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, "cookie.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR |
                                XML_PARSE_NOCDATA);
    if (st->other_encoding != NULL) {
        g_autofree char *s = shown(st->other_encoding);

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s must be UTF-8, it declares the encoding '%s'", what, s);
        g_clear_pointer(&doc, xmlFreeDoc);
    } else if (st->doctype) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s must not have a DOCTYPE declaration", what);
        g_clear_pointer(&doc, xmlFreeDoc);
    } else if (st->too_deep) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s nests elements deeper than %d levels", what,
                    VB_MIGRATION_COOKIE_MAX_DEPTH);
        g_clear_pointer(&doc, xmlFreeDoc);
    } else if (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);

        if (st->error_message == NULL) {
            st->error_line = e != NULL ? e->line : 0;
            st->error_message = g_strstrip(
                g_strdup(e != NULL && e->message != NULL ? e->message : "unknown error"));
        }
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "malformed %s: line %d: %s", what,
                    st->error_line, st->error_message);
        g_clear_pointer(&doc, xmlFreeDoc);
    } else if (doc->intSubset != NULL || doc->extSubset != NULL) {
        /* not reached while on_doctype stops the parser; kept as the rule's backstop */
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s must not have a DOCTYPE declaration", what);
        g_clear_pointer(&doc, xmlFreeDoc);
    }
    g_clear_pointer(&st->error_message, g_free);
    g_clear_pointer(&st->other_encoding, g_free);
    xmlFreeParserCtxt(ctxt);
    return doc;
}

static gboolean G_GNUC_PRINTF(2, 3)
cookie_error(GError **error, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "invalid migration cookie: %s", msg);
    return FALSE;
}

static char *
prop(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *)name);
    char *r = g_strdup((const char *)v);

    xmlFree(v);
    return r;
}

static char *
content(xmlNode *node)
{
    xmlChar *v = xmlNodeGetContent(node);
    char *r = g_strdup(v != NULL ? (const char *)v : "");

    xmlFree(v);
    return r;
}

static gboolean
is_elem(xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns == NULL &&
           strcmp((const char *)node->name, name) == 0;
}

/* XML's blanks around a number are allowed; the rest must be decimal digits <= @max */
static gboolean
parse_number(const char *text, guint64 max, guint64 *out_value)
{
    g_autofree char *t = NULL;
    guint64 v = 0;

    if (text == NULL)
        return FALSE;
    t = g_strstrip(g_strdup(text));
    if (t[0] == '\0')
        return FALSE;
    for (const char *p = t; *p != '\0'; p++) {
        guint d;

        if (!g_ascii_isdigit(*p))
            return FALSE;
        d = (guint)(*p - '0');
        if (v > (max - d) / 10)
            return FALSE;
        v = v * 10 + d;
    }
    *out_value = v;
    return TRUE;
}

/*
 * A name, host name, address or target: non-empty, at most MAX_TEXT bytes, no
 * control characters (@blanks_ok: spaces allowed, as in domain names).
 */
static gboolean
check_text(const char *value, gboolean blanks_ok)
{
    if (value[0] == '\0' || strlen(value) > MAX_TEXT)
        return FALSE;
    for (const char *p = value; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f || (!blanks_ok && *p == ' '))
            return FALSE;
    }
    return TRUE;
}

static gboolean
get_port(xmlNode *node, const char *attr, int *out_port, GError **error)
{
    g_autofree char *v = prop(node, attr);
    guint64 port;

    if (v == NULL) {
        *out_port = -1;
        return TRUE;
    }
    if (!parse_number(v, G_MAXUINT16, &port) || port == 0) {
        g_autofree char *s = shown(v);

        return cookie_error(error, "<%s %s='%s'>: a port must be a number in 1..65535",
                            (const char *)node->name, attr, s);
    }
    *out_port = (int)port;
    return TRUE;
}

static gboolean
get_text_prop(xmlNode *node, const char *attr, gboolean required, char **out_value,
              GError **error)
{
    g_autofree char *v = prop(node, attr);

    if (v == NULL) {
        if (required)
            return cookie_error(error, "<%s> lacks the attribute '%s'",
                                (const char *)node->name, attr);
        return TRUE;
    }
    if (!check_text(v, FALSE)) {
        g_autofree char *s = shown(v);

        return cookie_error(error, "<%s %s='%s'>: expected 1..%d bytes without blanks or "
                            "control characters", (const char *)node->name, attr, s, MAX_TEXT);
    }
    *out_value = g_steal_pointer(&v);
    return TRUE;
}

static gboolean
parse_uuid(xmlNode *node, char out_uuid[37], GError **error)
{
    g_autofree char *v = content(node);
    unsigned char raw[16];

    /* XML blanks around it are formatting */
    if (!vb_uuid_parse(g_strstrip(v), raw)) {
        g_autofree char *s = shown(v);

        return cookie_error(error, "<%s> '%s' is not a UUID", (const char *)node->name, s);
    }
    vb_uuid_format(raw, out_uuid);
    return TRUE;
}

static gboolean
parse_graphics(VbMigrationCookie *cookie, xmlNode *node, GError **error)
{
    g_autofree char *type = prop(node, "type");

    if (type == NULL)
        return cookie_error(error, "<graphics> lacks the attribute 'type'");
    if (strcmp(type, "vnc") != 0 && strcmp(type, "spice") != 0) {
        g_autofree char *s = shown(type);

        return cookie_error(error, "<graphics type='%s'>: expected 'vnc' or 'spice'", s);
    }
    cookie->graphics_type = g_steal_pointer(&type);
    return get_port(node, "port", &cookie->graphics_port, error) &&
           get_port(node, "tlsPort", &cookie->graphics_tls_port, error) &&
           get_text_prop(node, "listen", FALSE, &cookie->graphics_listen, error);
}

/* <multifd connections='N' compression='none|zlib|zstd'/> */
static gboolean
parse_multifd(VbMigrationCookie *cookie, xmlNode *node, GError **error)
{
    g_autofree char *n = prop(node, "connections");
    g_autofree char *comp = prop(node, "compression");
    guint64 v;

    if (n == NULL || !parse_number(n, 255, &v) || v == 0) {
        g_autofree char *s = shown(n);

        return cookie_error(error, "<multifd connections='%s'>: expected 1 to 255",
                            s != NULL ? s : "");
    }
    if (comp == NULL || (!g_str_equal(comp, "none") && !g_str_equal(comp, "zlib") &&
                         !g_str_equal(comp, "zstd"))) {
        g_autofree char *s = shown(comp);

        return cookie_error(error, "<multifd compression='%s'>: expected none, zlib or zstd",
                            s != NULL ? s : "");
    }
    cookie->multifd_channels = (int)v;
    cookie->multifd_compression = g_steal_pointer(&comp);
    return TRUE;
}

/* <tunnel token='32 HEX DIGITS'/>: exactly 128 bits, stored in lowercase */
static gboolean
parse_tunnel(VbMigrationCookie *cookie, xmlNode *node, GError **error)
{
    g_autofree char *token = prop(node, "token");
    gboolean ok = token != NULL && strlen(token) == VB_MIGRATION_TUNNEL_TOKEN_LEN;

    for (const char *p = token; ok && *p != '\0'; p++)
        ok = g_ascii_isxdigit(*p);
    if (!ok) {
        g_autofree char *s = shown(token);

        return cookie_error(error, "<tunnel token='%s'>: expected %d hexadecimal digits",
                            s != NULL ? s : "", VB_MIGRATION_TUNNEL_TOKEN_LEN);
    }
    cookie->tunnel_token = g_ascii_strdown(token, -1);
    return TRUE;
}

static gboolean
parse_nbd_disk(VbMigrationCookie *cookie, xmlNode *node, GHashTable *seen, GError **error)
{
    g_autofree char *target = NULL;
    g_autofree char *capacity = prop(node, "capacity");
    guint64 bytes = 0;

    if (!get_text_prop(node, "target", TRUE, &target, error))
        return FALSE;
    if (!g_hash_table_add(seen, g_strdup(target))) {
        g_autofree char *s = shown(target);

        return cookie_error(error, "<nbd> lists the disk '%s' twice", s);
    }
    if (capacity != NULL && !parse_number(capacity, G_MAXUINT64, &bytes)) {
        g_autofree char *s = shown(capacity);

        return cookie_error(error, "<disk capacity='%s'>: expected a number of bytes "
                            "(0..%" G_GUINT64_FORMAT ")", s, G_MAXUINT64);
    }
    vb_migration_cookie_add_disk(cookie, target, bytes);
    {
        VbMigrationCookieDisk *d = &g_array_index(cookie->nbd_disks, VbMigrationCookieDisk,
                                                  cookie->nbd_disks->len - 1);
        g_autofree char *backing = prop(node, "backing");

        /* a backing path may hold blanks, never control characters; it must be absolute */
        if (backing != NULL && (!check_text(backing, TRUE) || backing[0] != '/')) {
            g_autofree char *s = shown(backing);

            return cookie_error(error, "<disk backing='%s'>: expected an absolute path", s);
        }
        d->backing = g_steal_pointer(&backing);
        if (!get_text_prop(node, "backingFormat", FALSE, &d->backing_format, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_nbd(VbMigrationCookie *cookie, xmlNode *node, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (!get_port(node, "port", &cookie->nbd_port, error) ||
        !get_text_prop(node, "host", FALSE, &cookie->nbd_host, error))
        return FALSE;
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (is_elem(c, "disk") && !parse_nbd_disk(cookie, c, seen, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_statistics(VbMigrationCookie *cookie, xmlNode *node, GError **error)
{
    const struct {
        const char *name;
        gint64 *time;     /* a timestamp, ms since the epoch */
        guint64 *figure;  /* or a figure */
    } stats[] = {
        { "started", &cookie->started, NULL },
        { "stopped", &cookie->stopped, NULL },
        { "sent", &cookie->sent, NULL },
        { "time_elapsed", NULL, &cookie->total_ms },
        { "downtime", NULL, &cookie->downtime_ms },
        { "data_total", NULL, &cookie->data_total },
        { "data_processed", NULL, &cookie->data_processed },
        { "memory_bps", NULL, &cookie->memory_bps },
    };
    guint seen = 0;

    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        for (guint i = 0; i < G_N_ELEMENTS(stats); i++) {
            g_autofree char *text = NULL;
            guint64 max = stats[i].time != NULL ? (guint64)VB_MIGRATION_COOKIE_MAX_TIME
                                                : G_MAXUINT64;
            guint64 v;

            if (!is_elem(c, stats[i].name))
                continue;
            if (seen & (1u << i))
                return cookie_error(error, "<statistics> has <%s> twice", stats[i].name);
            seen |= 1u << i;
            text = content(c);
            if (!parse_number(text, max, &v)) {
                g_autofree char *s = shown(text);

                return cookie_error(error, "<statistics><%s> '%s': expected %s in 0..%"
                                    G_GUINT64_FORMAT, stats[i].name, s,
                                    stats[i].time != NULL ? "milliseconds since the epoch"
                                                          : "a number", max);
            }
            if (stats[i].time != NULL)
                *stats[i].time = (gint64)v;
            else
                *stats[i].figure = v;
        }
    }
    return TRUE;
}

/*
 * The <domain> inside <persistent>, byte for byte as the sender wrote it
 * (@st holds its span): it must stand alone as a document, so a namespace
 * prefix declared outside it is refused here rather than by the domain parser.
 */
static gboolean
parse_persistent(VbMigrationCookie *cookie, xmlNode *node, const ReadState *st, GError **error)
{
    guint n = 0;
    xmlNode *domain = NULL;
    ReadState sub = { 0 };
    g_autoptr(GError) local = NULL;
    xmlDoc *doc;

    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            n++;
            domain = c;
        } else if (c->type == XML_TEXT_NODE && !xmlIsBlankNode(c)) {
            return cookie_error(error, "<persistent> holds text besides its <domain>");
        }
    }
    if (n != 1 || !is_elem(domain, "domain"))
        return cookie_error(error, "<persistent> must hold exactly one <domain> element");
    if (!st->span_found)
        return cookie_error(error, "cannot locate the <domain> in <persistent>");
    sub.span_depth = 1;
    doc = read_doc(st->data + st->span_begin, st->span_end - st->span_begin,
                   "<persistent> domain XML", &sub, &local);
    if (doc == NULL)
        return cookie_error(error, "%s", local->message);
    xmlFreeDoc(doc);
    cookie->persistent_xml = g_strndup(st->data + st->span_begin,
                                       st->span_end - st->span_begin);
    return TRUE;
}

/* "1" or "1.N": the major must be ours; a minor version only adds optional parts */
static gboolean
check_version(xmlNode *root, GError **error)
{
    g_autofree char *version = prop(root, "version");
    g_auto(GStrv) parts = NULL;
    guint64 major, minor;

    if (version == NULL)
        return cookie_error(error, "<" ROOT_NAME "> lacks the attribute 'version'");
    parts = g_strsplit(version, ".", 3);
    if (!parse_number(parts[0], G_MAXUINT32, &major) ||
        (parts[1] != NULL && !parse_number(parts[1], G_MAXUINT32, &minor)) ||
        (parts[1] != NULL && parts[2] != NULL)) {
        g_autofree char *s = shown(version);

        return cookie_error(error, "<" ROOT_NAME " version='%s'>: expected a version such "
                            "as '%d'", s, VB_MIGRATION_COOKIE_VERSION);
    }
    if (major != VB_MIGRATION_COOKIE_VERSION) {
        g_autofree char *s = shown(version);

        return cookie_error(error, "version %s is not supported: this host understands "
                            "cookie version %d only; run the same major virtbus release "
                            "on both hosts", s, VB_MIGRATION_COOKIE_VERSION);
    }
    return TRUE;
}

/* <feature name=.../>: a known name must come with its element; an unknown one is
 * ignored unless the sender marks it required='yes' */
static gboolean
parse_feature(xmlNode *node, guint *declared, GError **error)
{
    g_autofree char *name = prop(node, "name");
    g_autofree char *required = prop(node, "required");
    g_autofree char *s = NULL;

    if (name == NULL)
        return cookie_error(error, "<feature> lacks the attribute 'name'");
    s = shown(name);
    for (guint i = 0; i < G_N_ELEMENTS(features); i++) {
        if (strcmp(name, features[i].name) != 0)
            continue;
        if (*declared & features[i].flag)
            return cookie_error(error, "<feature name='%s'> appears twice", s);
        *declared |= features[i].flag;
        return TRUE;
    }
    if (g_strcmp0(required, "yes") == 0)
        return cookie_error(error, "the sender requires the feature '%s', which this host "
                            "does not support; upgrade virtbus on this host", s);
    return TRUE;
}

typedef struct {
    const char *name;
    xmlNode *node;
} Slot;

static gboolean
parse_required_text(Slot *slot, char **out_value, GError **error)
{
    g_autofree char *v = NULL;

    if (slot->node == NULL)
        return cookie_error(error, "the required element <%s> is missing", slot->name);
    v = content(slot->node);
    /* a domain name may hold spaces (libvirt allows them), a host name may not */
    if (!check_text(v, strcmp(slot->name, "name") == 0)) {
        g_autofree char *s = shown(v);

        return cookie_error(error, "<%s> '%s': expected 1..%d bytes without control "
                            "characters%s", slot->name, s, MAX_TEXT,
                            strcmp(slot->name, "name") == 0 ? "" : " or blanks");
    }
    *out_value = g_steal_pointer(&v);
    return TRUE;
}

static gboolean
parse_root(VbMigrationCookie *cookie, xmlNode *root, const ReadState *st, GError **error)
{
    Slot slots[] = { { "name", NULL },     { "uuid", NULL },     { "hostname", NULL },
                     { "hostuuid", NULL }, { "graphics", NULL }, { "nbd", NULL },
                     { "statistics", NULL }, { "persistent", NULL }, { "multifd", NULL },
                     { "tunnel", NULL } };
    guint declared = 0;

    if (!check_version(root, error))
        return FALSE;
    for (xmlNode *c = root->children; c != NULL; c = c->next) {
        if (is_elem(c, "feature")) {
            if (!parse_feature(c, &declared, error))
                return FALSE;
            continue;
        }
        for (guint i = 0; i < G_N_ELEMENTS(slots); i++) {
            if (!is_elem(c, slots[i].name))
                continue;
            if (slots[i].node != NULL)
                return cookie_error(error, "<%s> appears twice", slots[i].name);
            slots[i].node = c;
        }
    }
    if (!parse_required_text(&slots[0], &cookie->name, error))
        return FALSE;
    if (slots[1].node == NULL)
        return cookie_error(error, "the required element <uuid> is missing");
    if (!parse_uuid(slots[1].node, cookie->uuid, error) ||
        !parse_required_text(&slots[2], &cookie->hostname, error))
        return FALSE;
    if (slots[3].node == NULL)
        return cookie_error(error, "the required element <hostuuid> is missing");
    if (!parse_uuid(slots[3].node, cookie->host_uuid, error))
        return FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(features); i++) {
        gboolean has = slots[4 + i].node != NULL;

        if (has != ((declared & features[i].flag) != 0))
            return cookie_error(error, has ? "<%s> is present but <feature name='%s'/> is not"
                                           : "<feature name='%s'/> is declared but <%s> is "
                                             "missing (truncated cookie?)",
                                features[i].name, features[i].name);
    }
    cookie->features = declared;
    if (slots[4].node != NULL && !parse_graphics(cookie, slots[4].node, error))
        return FALSE;
    if (slots[5].node != NULL && !parse_nbd(cookie, slots[5].node, error))
        return FALSE;
    if (slots[6].node != NULL && !parse_statistics(cookie, slots[6].node, error))
        return FALSE;
    if (slots[7].node != NULL && !parse_persistent(cookie, slots[7].node, st, error))
        return FALSE;
    if (slots[8].node != NULL && !parse_multifd(cookie, slots[8].node, error))
        return FALSE;
    if (slots[9].node != NULL && !parse_tunnel(cookie, slots[9].node, error))
        return FALSE;
    return TRUE;
}

/* Empty, too big, NUL bytes, not UTF-8: refused before libxml2 sees the bytes. */
static gboolean
check_bytes(const guint8 *data, gsize *len, GError **error)
{
    const char *end;
    const guint8 *nul;

    /* a C string's terminator (GLib's bytestring "ay" carries one) is not content */
    if (*len > 0 && data[*len - 1] == '\0')
        (*len)--;
    if (*len == 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG, "empty migration cookie");
        return FALSE;
    }
    if (*len > VB_MIGRATION_COOKIE_MAX_SIZE) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "migration cookie is %" G_GSIZE_FORMAT " bytes, more than the limit of %d",
                    *len, VB_MIGRATION_COOKIE_MAX_SIZE);
        return FALSE;
    }
    nul = memchr(data, '\0', *len);
    if (nul != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid migration cookie: a NUL byte at offset %" G_GSIZE_FORMAT,
                    (gsize)(nul - data));
        return FALSE;
    }
    if (!g_utf8_validate((const char *)data, (gssize)*len, &end)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid migration cookie: not UTF-8 (at offset %" G_GSIZE_FORMAT ")",
                    (gsize)((const guint8 *)end - data));
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_migration_cookie_parse_at:
 * @data: the cookie's bytes (one trailing NUL is allowed)
 * @len: their number
 * @now_ms: the time of arrival (wall ms), stored as "delivered"
 * @error: InvalidArgument naming what is wrong
 *
 * Parses a cookie from another host: at most VB_MIGRATION_COOKIE_MAX_SIZE bytes of UTF-8,
 * elements nested at most VB_MIGRATION_COOKIE_MAX_DEPTH deep, no DOCTYPE, root
 * <virtbus-migration version='1'>, the elements name, uuid, hostname and hostuuid present,
 * UUIDs returned in the lower-case 36-character form. Any thread.
 *
 * Returns: (transfer full): the cookie, or %NULL
 */
VbMigrationCookie *
vb_migration_cookie_parse_at(const guint8 *data, gsize len, gint64 now_ms, GError **error)
{
    g_autoptr(VbMigrationCookie) cookie = NULL;
    ReadState st = { 0 };
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;

    g_return_val_if_fail(data != NULL || len == 0, NULL);
    if (!check_bytes(data, &len, error))
        return NULL;
    /* libxml2 skips a byte order mark; drop it so that offsets are the data's */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        data += 3;
        len -= 3;
    }
    st.span_depth = 3;
    st.span_parent = "persistent";
    doc = read_doc((const char *)data, len, "migration cookie", &st, error);
    if (doc == NULL)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, ROOT_NAME)) {
        g_autofree char *s = shown(root != NULL ? (const char *)root->name : "");

        cookie_error(error, "the root element is <%s>, expected <" ROOT_NAME ">", s);
        xmlFreeDoc(doc);
        return NULL;
    }
    cookie = vb_migration_cookie_new();
    ok = parse_root(cookie, root, &st, error);
    xmlFreeDoc(doc);
    if (!ok)
        return NULL;
    cookie->delivered = now_ms;
    return g_steal_pointer(&cookie);
}

/**
 * vb_migration_cookie_parse:
 *
 * vb_migration_cookie_parse_at() at the current time.
 */
VbMigrationCookie *
vb_migration_cookie_parse(const guint8 *data, gsize len, GError **error)
{
    return vb_migration_cookie_parse_at(data, len, g_get_real_time() / 1000, error);
}

/**
 * vb_migration_cookie_set_persistent:
 * @cookie: a cookie
 * @xml: domain XML: one <domain> element, maybe after an XML declaration
 * @error: InvalidArgument when @xml is not well-formed or not a <domain>
 *
 * Stores the <domain> element of @xml byte for byte and sets PERSISTENT.
 */
gboolean
vb_migration_cookie_set_persistent(VbMigrationCookie *cookie, const char *xml, GError **error)
{
    g_autoptr(GError) local = NULL;
    ReadState st = { 0 };
    gsize len;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;

    g_return_val_if_fail(cookie != NULL && xml != NULL, FALSE);
    len = strlen(xml);
    if (len == 0 || len > VB_MIGRATION_COOKIE_MAX_SIZE || !g_utf8_validate(xml, -1, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the persistent definition must be 1..%d bytes of UTF-8",
                    VB_MIGRATION_COOKIE_MAX_SIZE);
        return FALSE;
    }
    st.span_depth = 1;
    doc = read_doc(xml, len, "persistent domain XML", &st, &local);
    if (doc == NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    root = xmlDocGetRootElement(doc);
    ok = root != NULL && is_elem(root, "domain") && st.span_found;
    xmlFreeDoc(doc);
    if (!ok) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "the persistent definition's root element must be <domain>");
        return FALSE;
    }
    g_free(cookie->persistent_xml);
    cookie->persistent_xml = g_strndup(xml + st.span_begin, st.span_end - st.span_begin);
    cookie->features |= VB_MIGRATION_COOKIE_PERSISTENT;
    return TRUE;
}

/* ---- writing ----------------------------------------------------------------------- */

static void
append_text(GString *s, const char *name, const char *value)
{
    g_autofree char *esc = g_markup_escape_text(value != NULL ? value : "", -1);

    g_string_append_printf(s, "  <%s>%s</%s>\n", name, esc, name);
}

static void
append_attr(GString *s, const char *name, const char *value)
{
    g_autofree char *esc = NULL;

    if (value == NULL)
        return;
    esc = g_markup_escape_text(value, -1);
    g_string_append_printf(s, " %s='%s'", name, esc);
}

static void
append_port(GString *s, const char *name, int port)
{
    if (port > 0 && port <= G_MAXUINT16)
        g_string_append_printf(s, " %s='%d'", name, port);
}

/* A definition set directly (not through set_persistent): no XML declaration inside */
static const char *
skip_prolog(const char *xml)
{
    const char *p = xml;

    while (g_ascii_isspace(*p))
        p++;
    if (g_str_has_prefix(p, "<?xml")) {
        const char *end = strstr(p, "?>");

        if (end != NULL)
            p = end + 2;
        while (g_ascii_isspace(*p))
            p++;
    }
    return p;
}

static void
append_nbd(GString *s, const VbMigrationCookie *cookie)
{
    guint n = cookie->nbd_disks != NULL ? cookie->nbd_disks->len : 0;

    g_string_append(s, "  <nbd");
    append_port(s, "port", cookie->nbd_port);
    append_attr(s, "host", cookie->nbd_host);
    if (n == 0) {
        g_string_append(s, "/>\n");
        return;
    }
    g_string_append(s, ">\n");
    for (guint i = 0; i < n; i++) {
        const VbMigrationCookieDisk *d = &g_array_index(cookie->nbd_disks,
                                                        VbMigrationCookieDisk, i);

        g_string_append(s, "    <disk");
        append_attr(s, "target", d->target);
        if (d->capacity > 0)
            g_string_append_printf(s, " capacity='%" G_GUINT64_FORMAT "'", d->capacity);
        append_attr(s, "backing", d->backing);
        append_attr(s, "backingFormat", d->backing_format);
        g_string_append(s, "/>\n");
    }
    g_string_append(s, "  </nbd>\n");
}

static void
append_statistics(GString *s, const VbMigrationCookie *cookie)
{
    const struct {
        const char *name;
        guint64 value;
    } stats[] = {
        { "started", (guint64)MAX(cookie->started, 0) },
        { "stopped", (guint64)MAX(cookie->stopped, 0) },
        { "sent", (guint64)MAX(cookie->sent, 0) },
        { "time_elapsed", cookie->total_ms },
        { "downtime", cookie->downtime_ms },
        { "data_total", cookie->data_total },
        { "data_processed", cookie->data_processed },
        { "memory_bps", cookie->memory_bps },
    };

    g_string_append(s, "  <statistics>\n");
    for (guint i = 0; i < G_N_ELEMENTS(stats); i++) {
        /* 0 is "unknown": left out, as the parser reads a missing element */
        if (stats[i].value != 0)
            g_string_append_printf(s, "    <%s>%" G_GUINT64_FORMAT "</%s>\n", stats[i].name,
                                   stats[i].value, stats[i].name);
    }
    g_string_append(s, "  </statistics>\n");
}

/* The features the cookie can carry: a flag without its data is not written. */
static guint
features_to_write(const VbMigrationCookie *cookie)
{
    guint f = cookie->features;

    if (cookie->graphics_type == NULL)
        f &= ~(guint)VB_MIGRATION_COOKIE_GRAPHICS;
    if (cookie->persistent_xml == NULL)
        f &= ~(guint)VB_MIGRATION_COOKIE_PERSISTENT;
    if (cookie->multifd_channels <= 0 || cookie->multifd_channels > 255 ||
        cookie->multifd_compression == NULL)
        f &= ~(guint)VB_MIGRATION_COOKIE_MULTIFD;
    if (cookie->tunnel_token == NULL)
        f &= ~(guint)VB_MIGRATION_COOKIE_TUNNEL;
    return f;
}

/**
 * vb_migration_cookie_format_at:
 * @cookie: a cookie with name, uuid, hostname and host_uuid set
 * @now_ms: the time of sending (wall ms), stored in "sent" when STATS is set
 *
 * Formats @cookie. A feature flag without its data (GRAPHICS without a type,
 * PERSISTENT without XML) is left out. Any thread.
 *
 * Returns: (transfer full): the XML bytes, without a trailing NUL
 */
GBytes *
vb_migration_cookie_format_at(VbMigrationCookie *cookie, gint64 now_ms)
{
    GString *s;
    guint f;

    g_return_val_if_fail(cookie != NULL && cookie->name != NULL && cookie->hostname != NULL,
                         NULL);
    f = features_to_write(cookie);
    if (f & VB_MIGRATION_COOKIE_STATS)
        cookie->sent = now_ms;
    s = g_string_new(NULL);
    g_string_append_printf(s, "<" ROOT_NAME " version='%d'>\n", VB_MIGRATION_COOKIE_VERSION);
    append_text(s, "name", cookie->name);
    append_text(s, "uuid", cookie->uuid);
    append_text(s, "hostname", cookie->hostname);
    append_text(s, "hostuuid", cookie->host_uuid);
    for (guint i = 0; i < G_N_ELEMENTS(features); i++) {
        if (f & features[i].flag)
            g_string_append_printf(s, "  <feature name='%s'/>\n", features[i].name);
    }
    if (f & VB_MIGRATION_COOKIE_GRAPHICS) {
        g_string_append(s, "  <graphics");
        append_attr(s, "type", cookie->graphics_type);
        append_port(s, "port", cookie->graphics_port);
        append_port(s, "tlsPort", cookie->graphics_tls_port);
        append_attr(s, "listen", cookie->graphics_listen);
        g_string_append(s, "/>\n");
    }
    if (f & VB_MIGRATION_COOKIE_NBD)
        append_nbd(s, cookie);
    if (f & VB_MIGRATION_COOKIE_STATS)
        append_statistics(s, cookie);
    if (f & VB_MIGRATION_COOKIE_PERSISTENT)
        g_string_append_printf(s, "  <persistent>\n%s\n  </persistent>\n",
                               skip_prolog(cookie->persistent_xml));
    if (f & VB_MIGRATION_COOKIE_MULTIFD) {
        g_string_append_printf(s, "  <multifd connections='%d'", cookie->multifd_channels);
        append_attr(s, "compression", cookie->multifd_compression);
        g_string_append(s, "/>\n");
    }
    if (f & VB_MIGRATION_COOKIE_TUNNEL) {
        g_string_append(s, "  <tunnel");
        append_attr(s, "token", cookie->tunnel_token);
        g_string_append(s, "/>\n");
    }
    g_string_append(s, "</" ROOT_NAME ">\n");
    return g_string_free_to_bytes(s);
}

/**
 * vb_migration_cookie_format:
 *
 * vb_migration_cookie_format_at() at the current time.
 */
GBytes *
vb_migration_cookie_format(VbMigrationCookie *cookie)
{
    return vb_migration_cookie_format_at(cookie, g_get_real_time() / 1000);
}

/**
 * vb_migration_cookie_check:
 * @cookie: a parsed cookie
 * @local_host_uuid: this host's UUID
 * @uuid: (nullable): the UUID of the domain the cookie must describe
 * @error: InvalidArgument when the cookie comes from this host or names another domain
 *
 * Returns: whether the cookie may be used here
 */
gboolean
vb_migration_cookie_check(const VbMigrationCookie *cookie, const char *local_host_uuid,
                          const char *uuid, GError **error)
{
    unsigned char a[16], b[16];

    g_return_val_if_fail(cookie != NULL && local_host_uuid != NULL, FALSE);
    if (vb_uuid_parse(cookie->host_uuid, a) && vb_uuid_parse(local_host_uuid, b) &&
        memcmp(a, b, 16) == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the source and destination are the same host (host UUID %s, '%s'): "
                    "migrate to another host, or give each host its own host UUID",
                    cookie->host_uuid, cookie->hostname != NULL ? cookie->hostname : "");
        return FALSE;
    }
    if (uuid != NULL && (!vb_uuid_parse(cookie->uuid, a) || !vb_uuid_parse(uuid, b) ||
                         memcmp(a, b, 16) != 0)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the migration cookie describes domain '%s' (UUID %s), not the domain "
                    "with UUID %s", cookie->name != NULL ? cookie->name : "", cookie->uuid,
                    uuid);
        return FALSE;
    }
    return TRUE;
}

/* ---- times --------------------------------------------------------------------------- */

static gboolean
valid_time(gint64 t)
{
    return t > 0 && t <= VB_MIGRATION_COOKIE_MAX_TIME;
}

/*
 * One figure (total time or downtime) from the source's @since to @finished:
 * with "sent" and "delivered" known, the cookie's time in flight is taken out,
 * which leaves two spans each measured on one host's clock, (sent - since) and
 * (finished - delivered); otherwise the plain difference. A figure that is
 * negative or below what QEMU measured itself cannot be right: QEMU's is used.
 */
static guint64
one_figure(const VbMigrationCookie *cookie, gint64 since, gint64 finished, guint64 qemu,
           gboolean *fell_back)
{
    gint64 fig;

    if (!valid_time(since) || !valid_time(finished)) {
        *fell_back = TRUE;
        return qemu;
    }
    if (valid_time(cookie->sent) && valid_time(cookie->delivered))
        fig = (cookie->sent < since || finished < cookie->delivered)
                  ? -1
                  : (cookie->sent - since) + (finished - cookie->delivered);
    else
        fig = finished - since;
    if (fig < 0 || (guint64)fig < qemu) {
        *fell_back = TRUE;
        return qemu;
    }
    return (guint64)fig;
}

/**
 * vb_migration_cookie_times:
 * @cookie: the cookie of the Perform phase, parsed on the destination
 * @finished: when the destination resumed the vCPUs (wall ms, destination clock)
 * @out_total_ms: (out): total time of the migration, 0 when unknown
 * @out_downtime_ms: (out): the time the guest did not run, 0 when unknown
 * @out_estimated: (out): TRUE when the hosts' clocks disagree so that the figures are
 *     estimates (see the header)
 */
void
vb_migration_cookie_times(const VbMigrationCookie *cookie, gint64 finished,
                          guint64 *out_total_ms, guint64 *out_downtime_ms,
                          gboolean *out_estimated)
{
    gboolean fell_back = FALSE, skewed = FALSE;
    guint64 total, downtime;

    g_return_if_fail(cookie != NULL);
    total = one_figure(cookie, cookie->started, finished, cookie->total_ms, &fell_back);
    downtime = one_figure(cookie, cookie->stopped, finished, cookie->downtime_ms, &fell_back);
    if (valid_time(cookie->sent) && valid_time(cookie->delivered)) {
        gint64 delta = cookie->delivered - cookie->sent;

        /* behind: impossible with agreeing clocks; ahead by more than the migration
         * took: no cookie travels that long on its own */
        skewed = delta < 0 || (guint64)delta > total;
    }
    if (out_total_ms != NULL)
        *out_total_ms = total;
    if (out_downtime_ms != NULL)
        *out_downtime_ms = downtime;
    if (out_estimated != NULL)
        *out_estimated = fell_back || skewed;
}
