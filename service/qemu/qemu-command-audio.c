/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Audio backends (<audio> → -audiodev, JSON as libvirt 9.0 writes it for QEMU 7.2) and the
 * sound devices that play through them (<sound> → -device, with codecs for the HDA ones;
 * pcspk is a machine property). Sound devices and VNC name their backend with
 * audiodev=audioN: the <audio id='N'/> child, else the domain's first <audio>.
 */
#include "config.h"

#include <libxml/tree.h>
#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

static gboolean
is_audio(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "audio") == 0;
}

/* an audio id as the number it is ("01" is 1, as libvirt reads it); 0 when not one */
static guint
audio_number(const char *id)
{
    guint64 v = 0;

    if (id == NULL || !g_ascii_string_to_unsigned(id, 10, 1, G_MAXINT, &v, NULL))
        return 0;
    return (guint)v;
}

typedef struct {
    const char *types; /* libvirt types that have it, space-separated; NULL: all */
    const char *attr;  /* libvirt attribute */
    const char *key;   /* QEMU's key */
    char kind;         /* 'b' yes/no, 'u' positive integer, 'i' integer >= 0, 's' string,
                          'f' sample format */
} AudioProp;

/* on <audio>, after id, driver; in libvirt's order */
static const AudioProp top_props[] = {
    { NULL, "timerPeriod", "timer-period", 'u' },
    { "oss", "tryMMap", "try-mmap", 'b' },
    { "oss", "exclusive", "exclusive", 'b' },
    { "oss", "dspPolicy", "dsp-policy", 'i' },
    { "pulseaudio", "serverName", "server", 's' },
    { "file", "path", "path", 's' },
};

/* on <input>/<output> (frequency, channels, format: on their <settings>) */
static const AudioProp io_props[] = {
    { NULL, "mixingEngine", "mixing-engine", 'b' },
    { NULL, "fixedSettings", "fixed-settings", 'b' },
    { NULL, "voices", "voices", 'u' },
    { NULL, "bufferLength", "buffer-length", 'u' },
    { NULL, "frequency", "frequency", 'u' },
    { NULL, "channels", "channels", 'u' },
    { NULL, "format", "format", 'f' },
    { "alsa oss", "dev", "dev", 's' },
    { "coreaudio oss sdl", "bufferCount", "buffer-count", 'u' },
    { "oss", "tryPoll", "try-poll", 'b' },
    { "pulseaudio", "name", "name", 's' },
    { "pulseaudio", "streamName", "stream-name", 's' },
    { "pulseaudio", "latency", "latency", 'u' },
    { "jack", "serverName", "server-name", 's' },
    { "jack", "clientName", "client-name", 's' },
    { "jack", "connectPorts", "connect-ports", 's' },
    { "jack", "exactName", "exact-name", 'b' },
};

static gboolean
prop_applies(const AudioProp *p, const char *type)
{
    g_auto(GStrv) types = NULL;

    if (p->types == NULL)
        return TRUE;
    types = g_strsplit(p->types, " ", -1);
    return g_strv_contains((const char *const *)types, type);
}

/* QEMU's driver name for a libvirt audio type */
static const char *
audio_driver(const char *type)
{
    if (strcmp(type, "pulseaudio") == 0)
        return "pa";
    if (strcmp(type, "file") == 0)
        return "wav";
    return type;
}

/* adds @p's value from @node (attribute, or on <settings> for the sample settings) */
static gboolean
add_prop(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j, const AudioProp *p,
         xmlNode *node, GError **error)
{
    static const char *const formats[] = { "u8", "s8", "u16", "s16", "u32", "s32", "f32",
                                           NULL };
    g_autofree char *v = vb_xml_prop(node, p->attr);
    guint64 n;

    if (v == NULL)
        return TRUE;
    switch (p->kind) {
    case 'b':
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<%s %s='%s'> must be yes or no",
                                           node->name, p->attr, v);
        vb_json_bool(j, p->key, strcmp(v, "yes") == 0);
        return TRUE;
    case 'u':
    case 'i':
        if (!g_ascii_string_to_unsigned(v, 10, p->kind == 'u' ? 1 : 0, G_MAXUINT32, &n, NULL))
            return vb_qemu_cmd_unsupported(c, error, dev, "<%s %s='%s'> must be an integer "
                                           "between %d and %u", node->name, p->attr, v,
                                           p->kind == 'u' ? 1 : 0, G_MAXUINT32);
        vb_json_int(j, p->key, (gint64)n);
        return TRUE;
    case 'f':
        if (!g_strv_contains(formats, v))
            return vb_qemu_cmd_unsupported(c, error, dev, "<%s %s='%s'> is not a sample "
                                           "format QEMU knows", node->name, p->attr, v);
        vb_json_str(j, p->key, v);
        return TRUE;
    default:
        vb_json_str(j, p->key, v);
        return TRUE;
    }
}

static gboolean
known_attr(const AudioProp *props, guint n, const char *type, const char *name,
           gboolean settings)
{
    for (guint i = 0; i < n; i++) {
        gboolean on_settings = g_str_equal(props[i].attr, "frequency") ||
                               g_str_equal(props[i].attr, "channels") ||
                               g_str_equal(props[i].attr, "format");

        if (on_settings == settings && strcmp(props[i].attr, name) == 0 &&
            prop_applies(&props[i], type))
            return TRUE;
    }
    return FALSE;
}

/* refuses an attribute of @node that has no QEMU key for @type */
static gboolean
check_attrs(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *node, const AudioProp *props,
            guint n, const char *type, gboolean settings, GError **error)
{
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        const char *name = (const char *)a->name;

        if (node->parent->type == XML_DOCUMENT_NODE &&
            (strcmp(name, "id") == 0 || strcmp(name, "type") == 0))
            continue;
        if (a->ns != NULL || !known_attr(props, n, type, name, settings))
            return vb_qemu_cmd_unsupported(c, error, dev, "attribute '%s' of <%s> is not "
                                           "supported for audio type '%s'", name, node->name,
                                           type);
    }
    return TRUE;
}

/* {"mixing-engine":...} of an <input> or <output>; an empty object is left out */
static gboolean
add_io(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j, const char *type,
       xmlNode *io, GError **error)
{
    g_autoptr(GString) sub = vb_json_new();
    xmlNode *settings = NULL;

    if (io == NULL)
        return TRUE;
    if (!check_attrs(c, dev, io, io_props, G_N_ELEMENTS(io_props), type, FALSE, error))
        return FALSE;
    for (xmlNode *ch = io->children; ch != NULL; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE)
            continue;
        if (!vb_xml_is(ch, "settings") || settings != NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s> in <%s> is not "
                                           "supported", ch->name, io->name);
        settings = ch;
        if (!check_attrs(c, dev, ch, io_props, G_N_ELEMENTS(io_props), type, TRUE, error))
            return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(io_props); i++) {
        const AudioProp *p = &io_props[i];
        gboolean on_settings = i >= 4 && i <= 6;

        if (!prop_applies(p, type))
            continue;
        if (on_settings && settings == NULL)
            continue;
        if (!add_prop(c, dev, sub, p, on_settings ? settings : io, error))
            return FALSE;
    }
    if (sub->len > 1) {
        g_autofree char *obj = vb_json_end(g_steal_pointer(&sub));

        g_string_append_printf(j, ",\"%s\":%s", vb_xml_is(io, "input") ? "in" : "out", obj);
    }
    return TRUE;
}

static gboolean
has_graphics(const VbQemuCmd *c, const char *type)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_GRAPHICS && strcmp(d->type, type) == 0)
            return TRUE;
    }
    return FALSE;
}

static gboolean
audio_children(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root, xmlNode **out_in,
               xmlNode **out_out, GError **error)
{
    for (xmlNode *ch = root->children; ch != NULL; ch = ch->next) {
        xmlNode **slot;

        if (ch->type != XML_ELEMENT_NODE || vb_xml_is(ch, "alias"))
            continue;
        slot = vb_xml_is(ch, "input") ? out_in : vb_xml_is(ch, "output") ? out_out : NULL;
        if (slot == NULL || *slot != NULL || ch->ns != NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s> in <audio> is not "
                                           "supported%s", ch->name,
                                           slot != NULL ? " twice" : "");
        *slot = ch;
    }
    return TRUE;
}

static gboolean
build_one_audio(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(dev->raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    g_autofree char *type = NULL;
    g_autofree char *id = NULL;
    g_autofree char *alias = NULL;
    xmlNode *in = NULL;
    xmlNode *out = NULL;
    GString *j;
    gboolean ok = FALSE;

    if (root == NULL) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "cannot read the element");
        goto done;
    }
    type = vb_xml_prop(root, "type");
    id = vb_xml_prop(root, "id");
    if (type == NULL || audio_number(id) == 0) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "needs a positive id= and a type=");
        goto done;
    }
    if (c->caps->audiodevs != NULL && g_hash_table_size(c->caps->audiodevs) > 0 &&
        !g_hash_table_contains(c->caps->audiodevs, audio_driver(type))) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "audio type '%s' is not available: QEMU "
                                     "binary %s has no '%s' audio driver (see its "
                                     "-audiodev help)", type, c->caps->binary,
                                     audio_driver(type));
        goto done;
    }
    if ((strcmp(type, "spice") == 0 || strcmp(type, "dbus") == 0) && !has_graphics(c, type)) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "audio type '%s' needs a <graphics "
                                     "type='%s'>", type, type);
        goto done;
    }
    if (!check_attrs(c, dev, root, top_props, G_N_ELEMENTS(top_props), type, FALSE, error) ||
        !audio_children(c, dev, root, &in, &out, error))
        goto done;
    alias = g_strdup_printf("audio%u", audio_number(id));
    j = vb_json_new();
    vb_json_str(j, "id", alias);
    vb_json_str(j, "driver", audio_driver(type));
    for (guint i = 0; i < G_N_ELEMENTS(top_props); i++) {
        if (prop_applies(&top_props[i], type) &&
            !add_prop(c, dev, j, &top_props[i], root, error)) {
            g_string_free(j, TRUE);
            goto done;
        }
    }
    if (!add_io(c, dev, j, type, in, error) || !add_io(c, dev, j, type, out, error)) {
        g_string_free(j, TRUE);
        goto done;
    }
    vb_qemu_cmd_add_json(c, "-audiodev", j);
    vb_qemu_cmd_consume_device(c, dev);
    ok = TRUE;
done:
    if (doc != NULL)
        xmlFreeDoc(doc);
    return ok;
}


/**
 * vb_qemu_cmd_build_audio:
 * @c: the command being built
 * @error: error
 *
 * One -audiodev per <audio>, id "audioN" after its id=N, in document order.
 */
gboolean
vb_qemu_cmd_build_audio(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (is_audio(dev) && !build_one_audio(c, dev, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_audio_id:
 * @c: the command being built
 * @dev: a sound device or a graphics
 * @out_id: (out) (transfer full) (nullable): "audioN", or %NULL when the domain has no
 *   <audio> and @dev names none
 * @error: error
 *
 * The backend @dev plays through: its <audio id='N'/> child, else the domain's first
 * <audio> (as libvirt's virDomainDefFindAudioByID()).
 */
gboolean
vb_qemu_cmd_audio_id(const VbQemuCmd *c, const VbDeviceDef *dev, char **out_id,
                     GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    GPtrArray *ch = dev->extra.children;
    g_autofree char *want = NULL;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "audio") != 0)
            continue;
        if (want != NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <audio> is supported");
        want = vb_raw_elem_get_attr(raw, "id");
        if (want == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "<audio> needs id=");
    }
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        g_autofree char *id = NULL;

        if (!is_audio(d))
            continue;
        id = vb_raw_elem_get_attr(d->raw, "id");
        if (audio_number(id) != 0 && (want == NULL || audio_number(id) == audio_number(want))) {
            *out_id = g_strdup_printf("audio%u", audio_number(id));
            return TRUE;
        }
    }
    if (want != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "no <audio> with id %s", want);
    *out_id = NULL;
    return TRUE;
}

/* the sound device's backend: sound devices need one (define adds a default <audio>) */
static gboolean
sound_audio_id(const VbQemuCmd *c, const VbDeviceDef *dev, char **out_id, GError **error)
{
    if (!vb_qemu_cmd_audio_id(c, dev, out_id, error))
        return FALSE;
    if (*out_id == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a sound device needs an <audio> "
                                       "backend in <devices> (e.g. <audio id='1' "
                                       "type='none'/>)");
    return TRUE;
}

/**
 * vb_qemu_cmd_machine_audio:
 * @c: the command being built
 * @opts: the -machine value being built
 * @error: error
 *
 * The PC speaker (<sound model='pcspk'>) is the machine's own: pcspk-audiodev=audioN.
 */
gboolean
vb_qemu_cmd_machine_audio(VbQemuCmd *c, GString *opts, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    gboolean seen = FALSE;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *id = NULL;

        if (dev->kind != VB_DEV_SOUND || strcmp(dev->model, "pcspk") != 0)
            continue;
        if (seen)
            return vb_qemu_cmd_unsupported(c, error, dev, "the machine has one PC speaker");
        seen = TRUE;
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL,
                                     (const char *const[]){ "audio", NULL }, error) ||
            !sound_audio_id(c, dev, &id, error))
            return FALSE;
        if (dev->addr.type != VB_ADDR_NONE)
            return vb_qemu_cmd_unsupported(c, error, dev, "the PC speaker has no address");
        g_string_append_printf(opts, ",pcspk-audiodev=%s", id);
    }
    return TRUE;
}

static gboolean
add_codec(VbQemuCmd *c, const VbDeviceDef *dev, const char *sound_id, const char *audio,
          const char *type, int cad, GError **error)
{
    g_autofree char *bus = g_strdup_printf("%s.0", sound_id);
    g_autofree char *id = g_strdup_printf("%s-codec%d", sound_id, cad);
    g_autofree char *name = g_strdup_printf("hda-%s", type);
    GString *j;

    if (strcmp(type, "duplex") != 0 && strcmp(type, "micro") != 0 &&
        strcmp(type, "output") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<codec type='%s'> is not supported "
                                       "(duplex, micro, output)", type);
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "id", id);
    vb_json_str(j, "bus", bus);
    vb_json_int(j, "cad", cad);
    vb_json_str(j, "audiodev", audio);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/* the <codec type> children in order, cad 0, 1, ...; none: one duplex codec, as libvirt */
static gboolean
build_codecs(VbQemuCmd *c, const VbDeviceDef *dev, const char *sound_id, const char *audio,
             GError **error)
{
    GPtrArray *ch = dev->extra.children;
    int cad = 0;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *type = NULL;

        if (strcmp(raw->name, "codec") != 0)
            continue;
        type = vb_raw_elem_get_attr(raw, "type");
        if (!add_codec(c, dev, sound_id, audio, type != NULL ? type : "", cad++, error))
            return FALSE;
    }
    return cad > 0 || add_codec(c, dev, sound_id, audio, "duplex", 0, error);
}

static const char *
sound_driver(const char *model)
{
    static const char *const map[] = { "es1370", "ES1370", "ac97", "AC97", "ich6", "intel-hda",
                                       "ich9", "ich9-intel-hda", "usb", "usb-audio", "sb16",
                                       "sb16", NULL };

    for (guint i = 0; map[i] != NULL; i += 2) {
        if (strcmp(map[i], model) == 0)
            return map[i + 1];
    }
    return NULL;
}

static gboolean
build_sound(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const hda_children[] = { "codec", "audio", NULL };
    static const char *const children[] = { "audio", NULL };
    const char *driver = sound_driver(dev->model);
    gboolean hda = strcmp(dev->model, "ich6") == 0 || strcmp(dev->model, "ich9") == 0;
    g_autofree char *id = g_strdup_printf("sound%d", n);
    g_autofree char *audio = NULL;
    GString *j;
    gboolean ok;

    if (driver == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "sound model '%s' is not supported by "
                                       "QEMU", dev->model);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL,
                                 hda ? hda_children : children, error) ||
        !sound_audio_id(c, dev, &audio, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", driver);
    vb_json_str(j, "id", id);
    /* an HDA controller has no backend: its codecs have */
    if (!hda)
        vb_json_str(j, "audiodev", audio);
    if (strcmp(dev->model, "usb") == 0)
        ok = vb_qemu_cmd_usb_props(c, j, dev, error);
    else if (strcmp(dev->model, "sb16") == 0)
        ok = dev->addr.type == VB_ADDR_NONE ||
             vb_qemu_cmd_unsupported(c, error, dev, "an ISA sound card address is not "
                                     "supported");
    else
        ok = vb_qemu_cmd_pci_props(c, j, dev, error);
    if (!ok) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    if (!vb_qemu_cmd_add_device(c, dev, j, error))
        return FALSE;
    return !hda || build_codecs(c, dev, id, audio, error);
}

/**
 * vb_qemu_cmd_build_sound:
 * @c: the command being built
 * @error: error
 *
 * Sound devices "sound0", "sound1" ... in document order (the PC speaker counts, as in
 * libvirt's aliases, but is a -machine property: vb_qemu_cmd_machine_audio()).
 */
gboolean
vb_qemu_cmd_build_sound(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_SOUND)
            continue;
        if (strcmp(dev->model, "pcspk") != 0 && !build_sound(c, dev, n, error))
            return FALSE;
        n++;
    }
    return TRUE;
}
