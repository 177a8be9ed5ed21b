/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus floors of bench/compare: a minimal GLib/GDBus service and a
 * minimal signal listener.  Compiled by bench/compare into a temp dir with
 * `cc $(pkg-config --cflags --libs gio-2.0)`; not part of meson.
 *
 *   floorsvc serve ADDRESS NAME [REPLY-FILE]
 *       Connects to the bus, owns NAME and prints "ready".  With REPLY-FILE
 *       (the serialized GVariant of a GetManagedObjects reply, type
 *       (a{oa{sa{sv}}}), as bench/compare saved it from virtbusd), answers
 *       org.freedesktop.DBus.ObjectManager.GetManagedObjects on
 *       /org/virtbus/Virt1 with exactly that value: the floor of a listing
 *       is the bus cost of the same bytes.  Without it, it only sits idle
 *       (the RSS floor).  Either way it answers
 *       org.freedesktop.DBus.Properties.Get on any path from its connection
 *       filter, on GDBus's worker thread, as virtbusd answers a read: "State"
 *       with "running", "Active" with true, anything else with "" (the floor
 *       of a property read: a Get's body and its reply's, where Ping has
 *       none).  Runs until SIGTERM/SIGINT.
 *
 *   floorsvc qmp ADDRESS NAME QMP-SOCKET
 *       The floor of a bus service that suspends a VM: connects to a bare
 *       QEMU's QMP socket (greeting, qmp_capabilities, cont: QEMU was
 *       started with -S), owns NAME and
 *       exports /org/virtbus/BenchFloor with org.virtbus.BenchFloor's
 *       Suspend() and Resume(): each sends `stop` (`cont`), emits
 *       Lifecycle("suspended", "paused") (("resumed", "unpaused")) when
 *       QEMU's STOP (RESUME) event is read and returns at QEMU's reply (calls
 *       queue: QMP answers in order).  One
 *       thread of its own (GDBus adds its worker), no state kept, nothing
 *       written.  Prints "ready".
 *
 *   floorsvc listen ADDRESS PATH IFACE MEMBER
 *       Subscribes to the signal IFACE.MEMBER on PATH (any sender), prints
 *       "ready" once the bus has the match rule, then one line per signal
 *       received: the CLOCK_MONOTONIC time in seconds (the same clock as
 *       Python's time.monotonic()).  Runs until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GVariant *reply;

static const char OM_XML[] =
    "<node><interface name='org.freedesktop.DBus.ObjectManager'>"
    "<method name='GetManagedObjects'>"
    "<arg type='a{oa{sa{sv}}}' name='objects' direction='out'/>"
    "</method></interface></node>";

static void
om_call (GDBusConnection *c, const char *sender, const char *path, const char *iface,
         const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  (void) c, (void) sender, (void) path, (void) iface, (void) params, (void) data;
  if (strcmp (method, "GetManagedObjects") == 0)
    g_dbus_method_invocation_return_value (inv, g_variant_ref (reply));
  else
    g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "no such method %s", method);
}

static const GDBusInterfaceVTable om_vtable = { om_call, NULL, NULL, { 0 } };

/* Properties.Get answered on the worker thread, nothing looked up */
static GDBusMessage *
get_filter (GDBusConnection *c, GDBusMessage *m, gboolean incoming, gpointer data)
{
  GVariant *body = g_dbus_message_get_body (m);
  const char *name;
  GVariant *v;
  GDBusMessage *r;

  (void) data;
  if (!incoming || g_dbus_message_get_message_type (m) != G_DBUS_MESSAGE_TYPE_METHOD_CALL
      || g_strcmp0 (g_dbus_message_get_interface (m), "org.freedesktop.DBus.Properties") != 0
      || g_strcmp0 (g_dbus_message_get_member (m), "Get") != 0 || body == NULL
      || !g_variant_is_of_type (body, G_VARIANT_TYPE ("(ss)")))
    return m;
  g_variant_get_child (body, 1, "&s", &name);
  if (strcmp (name, "State") == 0)
    v = g_variant_new_string ("running");
  else if (strcmp (name, "Active") == 0)
    v = g_variant_new_boolean (TRUE);
  else
    v = g_variant_new_string ("");
  r = g_dbus_message_new_method_reply (m);
  g_dbus_message_set_body (r, g_variant_new ("(v)", v));
  g_dbus_connection_send_message (c, r, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
  g_object_unref (r);
  g_object_unref (m); /* the filter owns it */
  return NULL;
}

static const char QMP_XML[] =
    "<node><interface name='org.virtbus.BenchFloor'>"
    "<method name='Suspend'/><method name='Resume'/>"
    "<signal name='Lifecycle'><arg type='s' name='event'/><arg type='s' name='detail'/>"
    "</signal></interface></node>";

static GIOChannel *qmp;
static GDBusConnection *qmp_bus;
static GQueue pending = G_QUEUE_INIT; /* the calls waiting for QEMU's replies, in order */

static char *
qmp_line (void)
{
  GError *err = NULL;
  char *line = NULL;

  if (g_io_channel_read_line (qmp, &line, NULL, NULL, &err) != G_IO_STATUS_NORMAL)
    {
      fprintf (stderr, "floorsvc: QMP: %s\n", err ? err->message : "end of file");
      exit (3);
    }
  return line;
}

static void
qmp_send (const char *cmd)
{
  GError *err = NULL;

  if (g_io_channel_write_chars (qmp, cmd, -1, NULL, &err) != G_IO_STATUS_NORMAL ||
      g_io_channel_flush (qmp, &err) != G_IO_STATUS_NORMAL)
    {
      fprintf (stderr, "floorsvc: QMP: %s\n", err->message);
      exit (3);
    }
}

static gboolean
qmp_readable (GIOChannel *ch, GIOCondition cond, gpointer data)
{
  (void) ch, (void) cond, (void) data;
  do
    {
      char *line = qmp_line ();

      if (strstr (line, "\"event\"") != NULL)
        {
          gboolean stop = strstr (line, "\"STOP\"") != NULL;
          if (stop || strstr (line, "\"RESUME\"") != NULL)
            g_dbus_connection_emit_signal (
                qmp_bus, NULL, "/org/virtbus/BenchFloor", "org.virtbus.BenchFloor", "Lifecycle",
                g_variant_new ("(ss)", stop ? "suspended" : "resumed", stop ? "paused" : "unpaused"),
                NULL);
        }
      else if (!g_queue_is_empty (&pending) &&
               (strstr (line, "\"return\"") || strstr (line, "\"error\"")))
        g_dbus_method_invocation_return_value (g_queue_pop_head (&pending), NULL);
      g_free (line);
    }
  while (g_io_channel_get_buffer_condition (qmp) & G_IO_IN);
  return G_SOURCE_CONTINUE;
}

static void
qmp_call (GDBusConnection *c, const char *sender, const char *path, const char *iface,
          const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  (void) c, (void) sender, (void) path, (void) iface, (void) params, (void) data;
  /* QMP answers commands in the order it read them */
  g_queue_push_tail (&pending, inv);
  qmp_send (strcmp (method, "Suspend") == 0 ? "{\"execute\":\"stop\"}\n"
                                             : "{\"execute\":\"cont\"}\n");
}

static const GDBusInterfaceVTable qmp_vtable = { qmp_call, NULL, NULL, { 0 } };

static void
qmp_connect (GDBusConnection *c, const char *sock)
{
  GError *err = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking */
  GDBusNodeInfo *node;
  char *line;

  g_strlcpy (addr.sun_path, sock, sizeof addr.sun_path);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      fprintf (stderr, "floorsvc: connect %s: %s\n", sock, g_strerror (errno));
      exit (3);
    }
  qmp = g_io_channel_unix_new (fd);
  g_io_channel_set_encoding (qmp, NULL, NULL);
  g_free (qmp_line ()); /* the greeting */
  qmp_send ("{\"execute\":\"qmp_capabilities\"}\n");
  g_free (qmp_line ());
  /* QEMU was started with -S: run it, and wait for cont's reply (its RESUME event
   * may come first) */
  qmp_send ("{\"execute\":\"cont\"}\n");
  do
    {
      line = qmp_line ();
      gboolean done = strstr (line, "\"return\"") != NULL || strstr (line, "\"error\"") != NULL;
      g_free (line);
      if (done)
        break;
    }
  while (TRUE);
  qmp_bus = c;
  g_io_add_watch (qmp, G_IO_IN, qmp_readable, NULL);
  node = g_dbus_node_info_new_for_xml (QMP_XML, &err);
  if (!node || !g_dbus_connection_register_object (c, "/org/virtbus/BenchFloor",
                                                   node->interfaces[0], &qmp_vtable, NULL,
                                                   NULL, &err))
    {
      fprintf (stderr, "floorsvc: register: %s\n", err->message);
      exit (3);
    }
}

static gboolean
on_quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
on_signal (GDBusConnection *c, const char *sender, const char *path, const char *iface,
           const char *member, GVariant *params, gpointer data)
{
  (void) c, (void) sender, (void) path, (void) iface, (void) member, (void) params, (void) data;
  printf ("%.6f\n", g_get_monotonic_time () / 1e6);
  fflush (stdout);
}

static GDBusConnection *
bus_connect (const char *address)
{
  GError *err = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &err);
  if (!c)
    {
      fprintf (stderr, "floorsvc: connect: %s\n", err->message);
      exit (3);
    }
  return c;
}

static GVariant *
bus_call (GDBusConnection *c, const char *method, GVariant *params)
{
  GError *err = NULL;
  GVariant *r = g_dbus_connection_call_sync (c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", method, params, NULL,
                                             G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &err);
  if (!r)
    {
      fprintf (stderr, "floorsvc: %s: %s\n", method, err->message);
      exit (3);
    }
  return r;
}

int
main (int argc, char **argv)
{
  if (argc < 4 ||
      (strcmp (argv[1], "serve") != 0 && strcmp (argv[1], "listen") != 0 &&
       strcmp (argv[1], "qmp") != 0) ||
      (strcmp (argv[1], "listen") == 0 && argc < 6) || (strcmp (argv[1], "qmp") == 0 && argc < 5))
    {
      fprintf (stderr, "usage: floorsvc serve ADDRESS NAME [REPLY-FILE]\n"
                       "       floorsvc qmp ADDRESS NAME QMP-SOCKET\n"
                       "       floorsvc listen ADDRESS PATH IFACE MEMBER\n");
      return 2;
    }
  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  GDBusConnection *c = bus_connect (argv[2]);
  GError *err = NULL;

  g_unix_signal_add (SIGTERM, on_quit, loop);
  g_unix_signal_add (SIGINT, on_quit, loop);
  if (strcmp (argv[1], "serve") == 0 || strcmp (argv[1], "qmp") == 0)
    {
      if (strcmp (argv[1], "qmp") == 0)
        qmp_connect (c, argv[4]);
      else
        g_dbus_connection_add_filter (c, get_filter, NULL, NULL);
      if (strcmp (argv[1], "serve") == 0 && argc > 4)
        {
          char *data;
          gsize len;
          if (!g_file_get_contents (argv[4], &data, &len, &err))
            {
              fprintf (stderr, "floorsvc: %s\n", err->message);
              return 3;
            }
          GBytes *b = g_bytes_new_take (data, len);
          reply = g_variant_ref_sink (
              g_variant_new_from_bytes (G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), b, FALSE));
          g_bytes_unref (b);
          if (!g_variant_is_normal_form (reply))
            {
              fprintf (stderr, "floorsvc: %s is not a normal-form (a{oa{sa{sv}}})\n", argv[4]);
              return 3;
            }
          GDBusNodeInfo *node = g_dbus_node_info_new_for_xml (OM_XML, &err);
          if (!node || !g_dbus_connection_register_object (c, "/org/virtbus/Virt1",
                                                           node->interfaces[0], &om_vtable,
                                                           NULL, NULL, &err))
            {
              fprintf (stderr, "floorsvc: register: %s\n", err->message);
              return 3;
            }
        }
      GVariant *r = bus_call (c, "RequestName", g_variant_new ("(su)", argv[3], 4u));
      guint32 code;
      g_variant_get (r, "(u)", &code);
      g_variant_unref (r);
      if (code != 1)
        {
          fprintf (stderr, "floorsvc: could not own %s (%u)\n", argv[3], code);
          return 3;
        }
    }
  else
    {
      g_dbus_connection_signal_subscribe (c, NULL, argv[4], argv[5], argv[3], NULL,
                                          G_DBUS_SIGNAL_FLAGS_NONE, on_signal, NULL, NULL);
      /* the bus handles one connection's messages in order: once GetId is
       * answered, the AddMatch sent before it is in place */
      g_variant_unref (bus_call (c, "GetId", NULL));
    }
  printf ("ready\n");
  fflush (stdout);
  g_main_loop_run (loop);
  g_object_unref (c);
  return 0;
}
