/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The -blockdev nodes of a disk, as libvirt 9.0 writes them for QEMU 7.2: per image of the
 * chain a protocol node "libvirt-N-storage" and a format node "libvirt-N-format", the
 * deepest backing image first, each format node naming the one below in "backing" (null
 * when the chain is known to end there). N counts up from the last disk's top image, as in
 * libvirt's qemuxmlconfdata. <driver copy_on_read='on'> adds a copy-on-read filter node.
 *
 * The chain is the one the start path read from the images (VbQemuDiskPrep) or, without
 * it, the one <backingStore> gives. Nothing here reads a file.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libxml/tree.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

typedef struct {
    char *type;       /* file, block, network, ... */
    char *format;     /* NULL: not known */
    xmlNode *source;  /* <source>, owned by the chain's document; NULL: none */
    char *path;       /* file= or dev= of the source, or the prepared layer's path */
    gboolean terminated; /* the chain is known to end below this layer */
} Layer;

struct _VbQemuDiskChain {
    xmlDoc *doc;
    GPtrArray *layers; /* Layer*, top first */
};

static void
layer_free(Layer *l)
{
    g_free(l->type);
    g_free(l->format);
    g_free(l->path);
    g_free(l);
}

void
vb_qemu_disk_chain_free(VbQemuDiskChain *chain)
{
    if (chain == NULL)
        return;
    g_ptr_array_unref(chain->layers);
    if (chain->doc != NULL)
        xmlFreeDoc(chain->doc);
    g_free(chain);
}

/**
 * vb_qemu_disk_prep_free:
 * @prep: (transfer full) (nullable): what the start path learnt about one disk
 */
void
vb_qemu_disk_prep_free(VbQemuDiskPrep *prep)
{
    if (prep == NULL)
        return;
    if (prep->backing != NULL)
        g_ptr_array_unref(prep->backing);
    g_free(prep);
}

static const VbQemuDiskPrep *
disk_prep(GHashTable *disks, const VbDeviceDef *dev)
{
    return disks != NULL ? g_hash_table_lookup(disks, dev->target_dev) : NULL;
}

static char *
xml_attr(xmlNode *n, const char *name)
{
    xmlChar *v = n != NULL ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    char *r = v != NULL ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return r;
}

static xmlNode *
xml_child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n != NULL ? n->children : NULL; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    }
    return NULL;
}

static const char *
source_path_attr(const char *type)
{
    if (strcmp(type, "file") == 0)
        return "file";
    if (strcmp(type, "block") == 0)
        return "dev";
    return NULL;
}

/* the disk's own <source> as a node of @doc: its kept attributes and children */
static xmlNode *
top_source_node(const VbDeviceDef *dev, xmlDoc *doc)
{
    xmlNode *n = xmlNewDocNode(doc, NULL, (const xmlChar *)"source", NULL);
    const char *attr = source_path_attr(dev->type);
    const VbExtra *ex = &dev->source.extra;

    if (attr != NULL && dev->source_path != NULL)
        xmlSetProp(n, (const xmlChar *)attr, (const xmlChar *)dev->source_path);
    for (guint i = 0; ex->attrs != NULL && i + 1 < ex->attrs->len; i += 2)
        xmlSetProp(n, g_ptr_array_index(ex->attrs, i), g_ptr_array_index(ex->attrs, i + 1));
    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        xmlDoc *d = vb_raw_elem_parse(g_ptr_array_index(ex->children, i));

        if (d != NULL) {
            xmlAddChild(n, xmlDocCopyNode(xmlDocGetRootElement(d), doc, 1));
            xmlFreeDoc(d);
        }
    }
    return n;
}

static const VbRawElem *
kept_child(const VbExtra *ex, const char *name)
{
    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ex->children, i);

        if (strcmp(raw->name, name) == 0)
            return raw;
    }
    return NULL;
}

/* the layers <backingStore> (a child of @parent) gives, appended to @chain */
static gboolean
xml_backing(const VbQemuCmd *c, const VbDeviceDef *dev, VbQemuDiskChain *chain,
            xmlNode *bs, GError **error)
{
    Layer *below = g_ptr_array_index(chain->layers, chain->layers->len - 1);

    for (guint depth = 0; bs != NULL; depth++) {
        Layer *l;
        const char *attr;

        if (depth > 200)
            return vb_qemu_cmd_unsupported(c, error, dev, "<backingStore> is nested too deep");
        l = g_new0(Layer, 1);
        l->type = xml_attr(bs, "type");
        if (l->type == NULL) { /* <backingStore/>: the chain ends */
            g_free(l);
            below->terminated = TRUE;
            return TRUE;
        }
        l->format = xml_attr(xml_child(bs, "format"), "type");
        l->source = xml_child(bs, "source");
        g_ptr_array_add(chain->layers, l);
        attr = source_path_attr(l->type);
        if (attr != NULL)
            l->path = xml_attr(l->source, attr);
        if (l->source == NULL || (attr != NULL && l->path == NULL))
            return vb_qemu_cmd_unsupported(c, error, dev, "a <backingStore> needs a <source>");
        if (l->format == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "<backingStore> of type '%s' has "
                                           "no <format type=>", l->type);
        below = l;
        bs = xml_child(bs, "backingStore");
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_disk_chain:
 * @c: the command being built
 * @dev: a disk
 * @error: error
 *
 * Returns: (transfer full): the disk's images, top first; the top has no source for an
 *   empty drive (a cdrom or floppy without medium, or one the start path dropped)
 */
VbQemuDiskChain *
vb_qemu_cmd_disk_chain(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    g_autoptr(VbQemuDiskChain) chain = g_new0(VbQemuDiskChain, 1);
    const VbQemuDiskPrep *prep = disk_prep(c->params->disks, dev);
    gboolean network = strcmp(dev->type, "network") == 0;
    Layer *top = g_new0(Layer, 1);
    const VbRawElem *bs_raw = kept_child(&dev->extra, "backingStore");

    chain->layers = g_ptr_array_new_with_free_func((GDestroyNotify)layer_free);
    chain->doc = xmlNewDoc((const xmlChar *)"1.0");
    top->type = g_strdup(dev->type);
    top->format = g_strdup(dev->driver_type);
    g_ptr_array_add(chain->layers, top);
    if ((prep != NULL && prep->drop_source) ||
        (!network && dev->source_path == NULL) || (network && !dev->source.present))
        return g_steal_pointer(&chain);
    top->source = top_source_node(dev, chain->doc);
    xmlDocSetRootElement(chain->doc, top->source);
    top->path = g_strdup(dev->source_path);
    if (prep != NULL && prep->backing != NULL) {
        for (guint i = 0; i < prep->backing->len; i++) {
            const VbQemuDiskLayer *pl = g_ptr_array_index(prep->backing, i);
            Layer *l = g_new0(Layer, 1);

            l->type = g_strdup(pl->type);
            l->format = g_strdup(pl->format);
            l->path = g_strdup(pl->path);
            g_ptr_array_add(chain->layers, l);
        }
        ((Layer *)g_ptr_array_index(chain->layers, chain->layers->len - 1))->terminated = TRUE;
    } else if (bs_raw != NULL) {
        xmlDoc *d = vb_raw_elem_parse(bs_raw);
        xmlNode *copy;

        if (d == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "<backingStore> cannot be read"),
                   NULL;
        copy = xmlDocCopyNode(xmlDocGetRootElement(d), chain->doc, 1);
        xmlFreeDoc(d);
        xmlAddChild(top->source, copy);
        if (!xml_backing(c, dev, chain, copy, error))
            return NULL;
    }
    return g_steal_pointer(&chain);
}

gboolean
vb_qemu_disk_chain_is_empty(const VbQemuDiskChain *chain)
{
    return ((Layer *)g_ptr_array_index(chain->layers, 0))->source == NULL;
}

guint
vb_qemu_disk_chain_length(const VbQemuDiskChain *chain)
{
    return vb_qemu_disk_chain_is_empty(chain) ? 0 : chain->layers->len;
}

/* formats QEMU 7.2 opens that libvirt 9.0 names; the value is the QEMU driver */
static const char *
format_driver(const char *format)
{
    static const char *const map[] = {
        "raw", "raw", "qcow2", "qcow2", "qcow", "qcow", "qed", "qed", "vmdk", "vmdk",
        "vdi", "vdi", "vpc", "vpc", "vhd", "vhdx", "bochs", "bochs", "cloop", "cloop",
        "dmg", "dmg", "ploop", "parallels", NULL
    };

    for (guint i = 0; map[i] != NULL; i += 2) {
        if (strcmp(map[i], format) == 0)
            return map[i + 1];
    }
    return NULL;
}

/* formats that can have a backing image (libvirt's VIR_STORAGE_FILE_BACKING and above) */
static gboolean
format_has_backing(const char *format)
{
    return strcmp(format, "qcow2") == 0 || strcmp(format, "qcow") == 0 ||
           strcmp(format, "qed") == 0 || strcmp(format, "vmdk") == 0;
}

/* cache= of <driver>: the "cache" object of the nodes and the device's write-cache */
gboolean
vb_qemu_cmd_cache_mode(const char *mode, gboolean *direct, gboolean *no_flush, gboolean *wce)
{
    static const struct {
        const char *name;
        gboolean direct, no_flush, wce;
    } modes[] = {
        { "none", TRUE, FALSE, TRUE },          { "writeback", FALSE, FALSE, TRUE },
        { "writethrough", FALSE, FALSE, FALSE }, { "directsync", TRUE, FALSE, FALSE },
        { "unsafe", FALSE, TRUE, TRUE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (strcmp(modes[i].name, mode) == 0) {
            *direct = modes[i].direct;
            *no_flush = modes[i].no_flush;
            *wce = modes[i].wce;
            return TRUE;
        }
    }
    return FALSE;
}

/* libvirt defaults a shared writable disk without cache= to cache='none' */
const char *
vb_qemu_cmd_disk_cache(const VbDeviceDef *dev)
{
    const char *cache = vb_extra_get_attr(&dev->driver.extra, "cache");

    if (cache == NULL && dev->shareable && !dev->readonly)
        return "none";
    return cache != NULL && strcmp(cache, "default") == 0 ? NULL : cache;
}

static void
json_cache(GString *j, const char *cache)
{
    gboolean direct;
    gboolean no_flush;
    gboolean wce;

    if (cache == NULL || !vb_qemu_cmd_cache_mode(cache, &direct, &no_flush, &wce))
        return;
    g_string_append_printf(j, "%s\"cache\":{\"direct\":%s,\"no-flush\":%s}",
                           j->len > 1 ? "," : "", direct ? "true" : "false",
                           no_flush ? "true" : "false");
}

/* appends "key":{raw json} */
static void
json_raw(GString *j, const char *key, GString *raw)
{
    g_autofree char *v = vb_json_end(raw);

    g_string_append_printf(j, "%s\"%s\":%s", j->len > 1 ? "," : "", key, v);
}

/* default ports of the protocols (libvirt's virStorageSourceNetworkDefaultPort) */
static const char *
default_port(const char *protocol)
{
    static const char *const ports[] = {
        "nbd", "10809", "http", "80", "https", "443", "ftp", "21", "ftps", "990",
        "iscsi", "3260", NULL
    };

    for (guint i = 0; ports[i] != NULL; i += 2) {
        if (strcmp(ports[i], protocol) == 0)
            return ports[i + 1];
    }
    return NULL;
}

/* the single <host> of @src: name, port (defaulted), transport, socket */
static gboolean
one_host(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *src, const char *protocol,
         char **name, char **port, char **socket, GError **error)
{
    xmlNode *host = xml_child(src, "host");
    g_autofree char *transport = NULL;

    if (host == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a '%s' disk needs a <host>", protocol);
    for (xmlNode *n = host->next; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "host") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "protocol '%s' takes one <host>",
                                           protocol);
    }
    transport = xml_attr(host, "transport");
    if (g_strcmp0(transport, "unix") == 0) {
        *socket = xml_attr(host, "socket");
        if (*socket == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "a unix <host> needs socket=");
        return TRUE;
    }
    if (transport != NULL && strcmp(transport, "tcp") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "host transport '%s' is not supported",
                                       transport);
    *name = xml_attr(host, "name");
    if (*name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a <host> needs name=");
    *port = xml_attr(host, "port");
    if (*port == NULL)
        *port = g_strdup(default_port(protocol));
    return TRUE;
}

static gboolean
nbd_props(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *src, GString *j,
          GError **error)
{
    g_autofree char *host = NULL, *port = NULL, *sock = NULL;
    g_autofree char *name = xml_attr(src, "name");
    g_autofree char *tls = xml_attr(src, "tls");
    GString *server = vb_json_new();

    if (g_strcmp0(tls, "yes") == 0) {
        g_string_free(server, TRUE);
        return vb_qemu_cmd_unsupported(c, error, dev, "nbd with tls='yes' needs TLS "
                                       "credentials, which virtbus does not set up yet");
    }
    if (!one_host(c, dev, src, "nbd", &host, &port, &sock, error)) {
        g_string_free(server, TRUE);
        return FALSE;
    }
    vb_json_str(server, "type", sock != NULL ? "unix" : "inet");
    if (sock != NULL) {
        vb_json_str(server, "path", sock);
    } else {
        vb_json_str(server, "host", host);
        vb_json_str(server, "port", port);
    }
    json_raw(j, "server", server);
    if (name != NULL)
        vb_json_str(j, "export", name);
    return TRUE;
}

static gboolean
curl_props(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *src, const char *protocol,
           GString *j, GError **error)
{
    g_autofree char *host = NULL, *port = NULL, *sock = NULL;
    g_autofree char *name = xml_attr(src, "name");
    g_autofree char *query = xml_attr(src, "query");
    g_autofree char *verify = xml_attr(xml_child(src, "ssl"), "verify");
    g_autofree char *timeout = xml_attr(xml_child(src, "timeout"), "seconds");
    g_autofree char *readahead = xml_attr(xml_child(src, "readahead"), "size");
    g_autoptr(GString) url = g_string_new(NULL);

    if (xml_child(src, "cookies") != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "<cookies> need secrets, which "
                                       "virtbus does not have yet");
    if (!one_host(c, dev, src, protocol, &host, &port, &sock, error))
        return FALSE;
    if (sock != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "protocol '%s' needs a TCP <host>",
                                       protocol);
    g_string_append_printf(url, "%s://%s%s%s:%s", protocol, strchr(host, ':') ? "[" : "",
                           host, strchr(host, ':') ? "]" : "", port);
    if (name != NULL)
        g_string_append_printf(url, "%s%s", name[0] == '/' ? "" : "/", name);
    if (query != NULL)
        g_string_append_printf(url, "?%s", query);
    vb_json_str(j, "url", url->str);
    if (verify != NULL)
        vb_json_bool(j, "sslverify", strcmp(verify, "yes") == 0);
    if (timeout != NULL && g_ascii_strtoull(timeout, NULL, 10) > 0)
        vb_json_int(j, "timeout", (gint64)g_ascii_strtoull(timeout, NULL, 10));
    if (readahead != NULL && g_ascii_strtoull(readahead, NULL, 10) > 0)
        vb_json_int(j, "readahead", (gint64)g_ascii_strtoull(readahead, NULL, 10));
    return TRUE;
}

static gboolean
iscsi_props(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *src, GString *j,
            GError **error)
{
    g_autofree char *host = NULL, *port = NULL, *sock = NULL;
    g_autofree char *name = xml_attr(src, "name");
    g_autofree char *iqn = xml_attr(xml_child(xml_child(src, "initiator"), "iqn"), "name");
    g_autofree char *portal = NULL;
    char *lun;
    guint64 lun_nr = 0;

    if (!one_host(c, dev, src, "iscsi", &host, &port, &sock, error))
        return FALSE;
    if (sock != NULL || name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "an iscsi disk needs a TCP <host> and "
                                       "a name='target/lun'");
    if ((lun = strchr(name, '/')) != NULL) {
        *lun++ = '\0';
        if (!g_ascii_string_to_unsigned(lun, 10, 0, G_MAXUINT32, &lun_nr, NULL))
            return vb_qemu_cmd_unsupported(c, error, dev, "iscsi LUN '%s' is not a number",
                                           lun);
    }
    portal = strchr(host, ':') ? g_strdup_printf("[%s]:%s", host, port)
                               : g_strdup_printf("%s:%s", host, port);
    vb_json_str(j, "portal", portal);
    vb_json_str(j, "target", name);
    vb_json_int(j, "lun", (gint64)lun_nr);
    vb_json_str(j, "transport", "tcp");
    if (iqn != NULL)
        vb_json_str(j, "initiator-name", iqn);
    return TRUE;
}

static gboolean
network_props(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *src, GString *j,
              GError **error)
{
    g_autofree char *protocol = xml_attr(src, "protocol");

    if (protocol == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a network disk needs <source "
                                       "protocol=>");
    if (xml_child(src, "auth") != NULL || kept_child(&dev->extra, "auth") != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "<auth> needs secrets, which virtbus "
                                       "does not have yet");
    if (xml_child(src, "reconnect") != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "<reconnect> of a '%s' source is not "
                                       "supported", protocol);
    vb_json_str(j, "driver", protocol);
    if (strcmp(protocol, "nbd") == 0)
        return nbd_props(c, dev, src, j, error);
    if (strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0 ||
        strcmp(protocol, "ftp") == 0 || strcmp(protocol, "ftps") == 0)
        return curl_props(c, dev, src, protocol, j, error);
    if (strcmp(protocol, "iscsi") == 0)
        return iscsi_props(c, dev, src, j, error);
    return vb_qemu_cmd_unsupported(c, error, dev, "network disk protocol '%s' is not "
                                   "supported (nbd, http, https, ftp, ftps and iscsi are)",
                                   protocol);
}

/* the protocol node of one layer */
static gboolean
storage_node(VbQemuCmd *c, const VbDeviceDef *dev, const Layer *l, gboolean top,
             const char *name, GError **error)
{
    const char *io = vb_extra_get_attr(&dev->driver.extra, "io");
    GString *j = vb_json_new();

    if (strcmp(l->type, "network") == 0) {
        if (!network_props(c, dev, l->source, j, error)) {
            g_string_free(j, TRUE);
            return FALSE;
        }
    } else if (strcmp(l->type, "file") == 0 || strcmp(l->type, "block") == 0) {
        if (strcmp(l->type, "block") == 0)
            vb_json_str(j, "driver", top && strcmp(dev->device, "cdrom") == 0 ? "host_cdrom"
                                                                           : "host_device");
        else
            vb_json_str(j, "driver", "file");
        vb_json_str(j, "filename", l->path);
        if (io != NULL && strcmp(io, "default") != 0)
            vb_json_str(j, "aio", io);
    } else {
        g_string_free(j, TRUE);
        return vb_qemu_cmd_unsupported(c, error, dev, "disk type '%s' is not supported",
                                       l->type);
    }
    vb_json_str(j, "node-name", name);
    json_cache(j, vb_qemu_cmd_disk_cache(dev));
    vb_json_bool(j, "auto-read-only", TRUE);
    vb_json_str(j, "discard", "unmap");
    vb_qemu_cmd_add_json(c, "-blockdev", j);
    return TRUE;
}

/* detect_zeroes='unmap' without discard='unmap' is 'on' (libvirt) */
static const char *
detect_zeroes(const VbDeviceDef *dev)
{
    const char *dz = vb_extra_get_attr(&dev->driver.extra, "detect_zeroes");
    const char *discard = vb_extra_get_attr(&dev->driver.extra, "discard");

    if (dz == NULL || strcmp(dz, "off") == 0 || strcmp(dz, "default") == 0)
        return NULL;
    if (strcmp(dz, "unmap") == 0 && g_strcmp0(discard, "unmap") != 0)
        return "on";
    return dz;
}

static gboolean
format_node(VbQemuCmd *c, const VbDeviceDef *dev, const VbQemuDiskChain *chain, guint i,
            int node, GError **error)
{
    const Layer *l = g_ptr_array_index(chain->layers, i);
    const char *discard = vb_extra_get_attr(&dev->driver.extra, "discard");
    const char *format = l->format != NULL ? l->format : "raw";
    const char *driver = format_driver(format);
    g_autofree char *name = g_strdup_printf("libvirt-%d-format", node);
    g_autofree char *storage = g_strdup_printf("libvirt-%d-storage", node);
    gboolean ro = i > 0 || dev->readonly || strcmp(dev->device, "cdrom") == 0;
    GString *j;

    if (driver == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "disk format '%s' is not supported",
                                       format);
    if (i + 1 < chain->layers->len && !format_has_backing(format))
        return vb_qemu_cmd_unsupported(c, error, dev, "format '%s' of '%s' cannot have a "
                                       "backing image", format,
                                       l->path != NULL ? l->path : dev->target_dev);
    if (l->format == NULL)
        c->taint |= VB_TAINT_DISK_PROBING;
    j = vb_json_new();
    vb_json_str(j, "node-name", name);
    vb_json_bool(j, "read-only", ro);
    if (discard != NULL && strcmp(discard, "default") != 0)
        vb_json_str(j, "discard", discard);
    if (i == 0 && detect_zeroes(dev) != NULL)
        vb_json_str(j, "detect-zeroes", detect_zeroes(dev));
    json_cache(j, vb_qemu_cmd_disk_cache(dev));
    vb_json_str(j, "driver", driver);
    vb_json_str(j, "file", storage);
    if (i + 1 < chain->layers->len) {
        g_autofree char *below = g_strdup_printf("libvirt-%d-format", node + 1);

        vb_json_str(j, "backing", below);
    } else if (l->terminated && format_has_backing(format)) {
        g_string_append(j, ",\"backing\":null");
    }
    vb_qemu_cmd_add_json(c, "-blockdev", j);
    return TRUE;
}

/**
 * vb_qemu_cmd_build_disk_nodes:
 * @c: the command being built
 * @dev: a disk with media
 * @chain: its images
 * @node: the N of its top image
 * @out_drive: (out): the node the device names in "drive"
 * @error: error
 *
 * Adds the -blockdev options of the chain, the deepest image first.
 */
gboolean
vb_qemu_cmd_build_disk_nodes(VbQemuCmd *c, const VbDeviceDef *dev,
                             const VbQemuDiskChain *chain, int node, char **out_drive,
                             GError **error)
{
    const char *cor = vb_extra_get_attr(&dev->driver.extra, "copy_on_read");

    for (guint i = chain->layers->len; i > 0; i--) {
        const Layer *l = g_ptr_array_index(chain->layers, i - 1);
        g_autofree char *storage = g_strdup_printf("libvirt-%d-storage", node + (int)i - 1);

        if (!storage_node(c, dev, l, i == 1, storage, error) ||
            !format_node(c, dev, chain, i - 1, node + (int)i - 1, error))
            return FALSE;
    }
    if (g_strcmp0(cor, "on") == 0) {
        GString *j = vb_json_new();
        g_autofree char *name = g_strdup_printf("libvirt-CoR-%s", dev->target_dev);
        g_autofree char *file = g_strdup_printf("libvirt-%d-format", node);

        vb_json_str(j, "driver", "copy-on-read");
        vb_json_str(j, "node-name", name);
        vb_json_str(j, "file", file);
        vb_json_str(j, "discard", "unmap");
        vb_qemu_cmd_add_json(c, "-blockdev", j);
        *out_drive = g_steal_pointer(&name);
        return TRUE;
    }
    *out_drive = g_strdup_printf("libvirt-%d-format", node);
    return TRUE;
}

/* libvirt's <iotune> children and block_set_io_throttle's argument names */
static const char *const iotune_map[] = {
    "total_bytes_sec", "bps", "read_bytes_sec", "bps_rd", "write_bytes_sec", "bps_wr",
    "total_iops_sec", "iops", "read_iops_sec", "iops_rd", "write_iops_sec", "iops_wr",
    "total_bytes_sec_max", "bps_max", "read_bytes_sec_max", "bps_rd_max",
    "write_bytes_sec_max", "bps_wr_max", "total_iops_sec_max", "iops_max",
    "read_iops_sec_max", "iops_rd_max", "write_iops_sec_max", "iops_wr_max",
    "size_iops_sec", "iops_size",
    "total_bytes_sec_max_length", "bps_max_length",
    "read_bytes_sec_max_length", "bps_rd_max_length",
    "write_bytes_sec_max_length", "bps_wr_max_length",
    "total_iops_sec_max_length", "iops_max_length",
    "read_iops_sec_max_length", "iops_rd_max_length",
    "write_iops_sec_max_length", "iops_wr_max_length",
    NULL
};

static const char *
iotune_arg(const char *elem)
{
    for (guint i = 0; iotune_map[i] != NULL; i += 2) {
        if (strcmp(iotune_map[i], elem) == 0)
            return iotune_map[i + 1];
    }
    return NULL;
}

/**
 * vb_qemu_cmd_disk_iotune:
 * @c: the command being built (for messages), or NULL
 * @dev: a disk
 * @out_args: (out) (optional): the block_set_io_throttle arguments without "id", or NULL
 *   when the disk has no <iotune>
 * @error: error
 *
 * Reads <iotune> and checks it as libvirt does (a total with a read or write of the same
 * kind is refused); QEMU checks the rest when the arguments are sent.
 */
gboolean
vb_qemu_cmd_disk_iotune(const VbQemuCmd *c, const VbDeviceDef *dev, JsonObject **out_args,
                        GError **error)
{
    const VbRawElem *raw = kept_child(&dev->extra, "iotune");
    xmlDoc *doc;
    g_autoptr(JsonObject) args = NULL;
    gboolean ok = TRUE;

    if (out_args != NULL)
        *out_args = NULL;
    if (raw == NULL)
        return TRUE;
    doc = vb_raw_elem_parse(raw);
    if (doc == NULL)
        return c != NULL ? vb_qemu_cmd_unsupported(c, error, dev, "<iotune> cannot be read")
                         : FALSE;
    args = json_object_new();
    for (guint i = 0; i < 6; i++) /* QEMU requires the six base values */
        json_object_set_int_member(args, iotune_map[2 * i + 1], 0);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; ok && n != NULL; n = n->next) {
        g_autofree char *text = NULL;
        const char *arg;
        guint64 v;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        text = (char *)xmlNodeGetContent(n);
        if (strcmp((const char *)n->name, "group_name") == 0) {
            json_object_set_string_member(args, "group", text);
            continue;
        }
        arg = iotune_arg((const char *)n->name);
        if (arg == NULL || !g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, G_MAXINT64,
                                                       &v, NULL)) {
            ok = c != NULL ? vb_qemu_cmd_unsupported(c, error, dev, "<iotune><%s>%s is not "
                                                     "supported", (const char *)n->name,
                                                     arg == NULL ? "" : " with this value")
                           : FALSE;
            break;
        }
        json_object_set_int_member(args, arg, (gint64)v);
    }
    xmlFreeDoc(doc);
    if (!ok)
        return FALSE;
    for (guint k = 0; k < 2 && c != NULL; k++) {
        const char *t = k == 0 ? "bps" : "iops";
        g_autofree char *rd = g_strconcat(t, "_rd", NULL);
        g_autofree char *wr = g_strconcat(t, "_wr", NULL);

        if (json_object_get_int_member(args, t) > 0 &&
            (json_object_get_int_member(args, rd) > 0 ||
             json_object_get_int_member(args, wr) > 0))
            return vb_qemu_cmd_unsupported(c, error, dev, "<iotune>: total %s cannot be set "
                                           "with read or write %s", t, t);
    }
    if (out_args != NULL)
        *out_args = g_steal_pointer(&args);
    return TRUE;
}

/* the QOM path block_set_io_throttle finds the disk by, as libvirt's qomName */
static char *
disk_qom_id(const VbDeviceDef *dev, const char *id)
{
    if (strcmp(dev->bus, "virtio") == 0)
        return g_strdup_printf("/machine/peripheral/%s/virtio-backend", id);
    if (strcmp(dev->bus, "usb") == 0)
        return g_strdup_printf("/machine/peripheral/%s/%s.0/legacy[0]", id, id);
    return g_strdup(id);
}

/**
 * vb_qemu_command_disk_throttles:
 * @def: the definition QEMU was started with
 * @disks: (nullable): what the start path learnt about the disks (dropped media)
 *
 * Returns: (transfer full): JsonObject* arguments of block_set_io_throttle, one per disk
 *   with media and an <iotune>. Pure; any thread.
 */
GPtrArray *
vb_qemu_command_disk_throttles(const VbDomainDef *def, GHashTable *disks)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const VbQemuDiskPrep *prep;
        JsonObject *args = NULL;
        g_autofree char *id = NULL;
        g_autofree char *qom = NULL;

        if (dev->kind != VB_DEV_DISK)
            continue;
        prep = disks != NULL ? g_hash_table_lookup(disks, dev->target_dev) : NULL;
        if ((prep != NULL && prep->drop_source) ||
            (strcmp(dev->type, "network") == 0 ? !dev->source.present
                                               : dev->source_path == NULL))
            continue; /* QEMU refuses throttling an empty drive */
        if (!vb_qemu_cmd_disk_iotune(NULL, dev, &args, NULL) || args == NULL)
            continue;
        id = vb_qemu_cmd_disk_id(def, dev);
        if (id == NULL) {
            json_object_unref(args);
            continue;
        }
        qom = disk_qom_id(dev, id);
        json_object_set_string_member(args, "id", qom);
        g_ptr_array_add(out, args);
    }
    return out;
}
