/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small GDBus client for bench/compare: sequential synchronous calls to a
 * service, with per-call latencies.  Compiled by bench/compare into a temp
 * dir with `cc $(pkg-config --cflags --libs gio-2.0)`; not part of meson.
 *
 *   propread ADDRESS DEST PATH MODE N [--wait]
 *
 * MODE:
 *   ping                 org.freedesktop.DBus.Peer.Ping (the bus floor)
 *   prop:IFACE:NAME      org.freedesktop.DBus.Properties.Get(IFACE, NAME)
 *   getstate             org.libvirt.Domain.GetState(0)
 *   list-virtbus         GetManagedObjects on PATH; reads Name and State of
 *                        every domain from the reply (N repetitions)
 *   list-libvirt         org.libvirt.Connect.ListDomains(0) on PATH, then
 *                        Properties.Get(Name) and GetState(0) per domain
 *
 * With --wait it connects, prints "ready", and waits for a line on stdin
 * before calling (so many processes can start at once).
 *
 * Prints one line of JSON: calls, seconds, t_start/t_end (CLOCK_MONOTONIC
 * seconds), median/p99/min/max latency in microseconds, items (listing).
 */
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static GVariant *
call (GDBusConnection *c, const char *dest, const char *path, const char *iface,
      const char *method, GVariant *params)
{
  GError *err = NULL;
  GVariant *r = g_dbus_connection_call_sync (c, dest, path, iface, method, params, NULL,
                                             G_DBUS_CALL_FLAGS_NO_AUTO_START, 120000,
                                             NULL, &err);
  if (!r)
    {
      fprintf (stderr, "propread: %s.%s on %s: %s\n", iface, method, path, err->message);
      exit (3);
    }
  return r;
}

/* one unit of work; returns the number of items seen (listing) */
static guint
one (GDBusConnection *c, const char *dest, const char *path, const char *mode)
{
  if (strcmp (mode, "ping") == 0)
    {
      g_variant_unref (call (c, dest, path, "org.freedesktop.DBus.Peer", "Ping", NULL));
      return 1;
    }
  if (strcmp (mode, "getstate") == 0)
    {
      g_variant_unref (call (c, dest, path, "org.libvirt.Domain", "GetState",
                             g_variant_new ("(u)", 0)));
      return 1;
    }
  if (g_str_has_prefix (mode, "prop:"))
    {
      g_auto (GStrv) parts = g_strsplit (mode, ":", 3);
      if (!parts[1] || !parts[2])
        {
          fprintf (stderr, "propread: bad mode %s\n", mode);
          exit (2);
        }
      g_variant_unref (call (c, dest, path, "org.freedesktop.DBus.Properties", "Get",
                             g_variant_new ("(ss)", parts[1], parts[2])));
      return 1;
    }
  if (strcmp (mode, "list-virtbus") == 0)
    {
      GVariant *r = call (c, dest, path, "org.freedesktop.DBus.ObjectManager",
                          "GetManagedObjects", NULL);
      GVariantIter *objs;
      const char *opath;
      GVariant *ifaces;
      guint n = 0;
      g_variant_get (r, "(a{oa{sa{sv}}})", &objs);
      while (g_variant_iter_loop (objs, "{&o@a{sa{sv}}}", &opath, &ifaces))
        {
          g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, "org.virtbus.Virt1.Domain",
                                                               G_VARIANT_TYPE ("a{sv}"));
          const char *name = NULL, *state = NULL;
          if (!props)
            continue;
          if (g_variant_lookup (props, "Name", "&s", &name) &&
              g_variant_lookup (props, "State", "&s", &state))
            n++;
        }
      g_variant_iter_free (objs);
      g_variant_unref (r);
      return n;
    }
  if (strcmp (mode, "list-libvirt") == 0)
    {
      GVariant *r = call (c, dest, path, "org.libvirt.Connect", "ListDomains",
                          g_variant_new ("(u)", 0));
      GVariantIter *doms;
      const char *dpath;
      guint n = 0;
      g_variant_get (r, "(ao)", &doms);
      while (g_variant_iter_next (doms, "&o", &dpath))
        {
          GVariant *nm = call (c, dest, dpath, "org.freedesktop.DBus.Properties", "Get",
                               g_variant_new ("(ss)", "org.libvirt.Domain", "Name"));
          GVariant *st = call (c, dest, dpath, "org.libvirt.Domain", "GetState",
                               g_variant_new ("(u)", 0));
          g_variant_unref (nm);
          g_variant_unref (st);
          n++;
        }
      g_variant_iter_free (doms);
      g_variant_unref (r);
      return n;
    }
  fprintf (stderr, "propread: unknown mode %s\n", mode);
  exit (2);
}

int
main (int argc, char **argv)
{
  if (argc < 6)
    {
      fprintf (stderr, "usage: propread ADDRESS DEST PATH MODE N [--wait]\n");
      return 2;
    }
  const char *address = argv[1], *dest = argv[2], *path = argv[3], *mode = argv[4];
  long n = strtol (argv[5], NULL, 10);
  gboolean wait = argc > 6 && strcmp (argv[6], "--wait") == 0;
  GError *err = NULL;

  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &err);
  if (!c)
    {
      fprintf (stderr, "propread: connect: %s\n", err->message);
      return 3;
    }
  one (c, dest, path, mode); /* warm-up: name resolution, first allocations */

  if (wait)
    {
      char line[16];
      printf ("ready\n");
      fflush (stdout);
      if (!fgets (line, sizeof line, stdin))
        return 4;
    }

  gint64 *lat = g_new (gint64, n);
  guint items = 0;
  gint64 t_start = g_get_monotonic_time ();
  for (long i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      items = one (c, dest, path, mode);
      lat[i] = g_get_monotonic_time () - t0;
    }
  gint64 t_end = g_get_monotonic_time ();
  qsort (lat, n, sizeof *lat, cmp_i64);
  long p99 = (long) ((n - 1) * 0.99 + 0.5);
  printf ("{\"calls\": %ld, \"seconds\": %.6f, \"t_start\": %.6f, \"t_end\": %.6f, "
          "\"median_us\": %.1f, \"p99_us\": %" G_GINT64_FORMAT ", \"min_us\": %" G_GINT64_FORMAT
          ", \"max_us\": %" G_GINT64_FORMAT ", \"items\": %u}\n",
          n, (t_end - t_start) / 1e6, t_start / 1e6, t_end / 1e6,
          n % 2 ? (double) lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2.0, lat[p99], lat[0],
          lat[n - 1], items);
  g_free (lat);
  g_object_unref (c);
  return 0;
}
