/*
 * The lab's reports: a table for people, JSON for scripts, an SVG chart for browsers.
 * "Per GB" is per 10^9 bytes moved, summed over all runs of a row.
 */
#include "cli/lab.h"
#include "cli/units.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double gb_moved(const struct zcq_lab_result *r)
{
    return (double)r->size * r->runs / 1e9;
}

static double per_gb(double v, const struct zcq_lab_result *r)
{
    double gb = gb_moved(r);

    return gb > 0 ? v / gb : 0;
}

static const char *cache_name(enum zcq_lab_cache c)
{
    return c == ZCQ_LAB_COLD ? "cold" : "warm";
}

/* The congestion control the TCP rows ran with ("" if none did). */
static const char *tcp_cc(const struct zcq_lab_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].tcp_cc[0])
            return r[i].tcp_cc;
    }
    return "";
}

static void header_line(FILE *f, const struct zcq_lab_opts *o, const struct zcq_lab_result *r,
                        size_t n)
{
    char sz[32], ch[32];
    uint64_t size = 0;

    for (size_t i = 0; i < n && !size; i++)
        size = r[i].size;
    fprintf(f, "zcq copies: %s file -> %s, chunk %s, %u run%s per row (median, min-max)",
            zcq_fmt_size(size, sz, sizeof(sz)), zcq_lab_dest_name(o->dest),
            zcq_fmt_size(o->chunk, ch, sizeof(ch)), o->runs, o->runs == 1 ? "" : "s");
    if (tcp_cc(r, n)[0])
        fprintf(f, ", TCP congestion control %s", tcp_cc(r, n));
    fputc('\n', f);
}

void zcq_lab_print_table(FILE *f, const struct zcq_lab_opts *o, const struct zcq_lab_result *r,
                         size_t n)
{
    header_line(f, o, r, n);
    fprintf(f, "\n%-16s %-5s %-21s %-13s %-13s %9s %-15s %-15s %-9s| %-11s %s\n", "", "",
            "throughput GB/s", "sender CPU", "receiver CPU", "syscalls", "sender ctxsw",
            "receiver ctxsw", "resident", "theory", "theory");
    fprintf(f, "%-16s %-5s %-21s %-13s %-13s %9s %-15s %-15s %-9s| %-11s %s\n", "method", "cache",
            "median (min-max)", "s/GB usr+sys", "s/GB usr+sys", "/GB", "/GB vol+inv", "/GB vol+inv",
            "% bef>aft", "copies(CPU)", "switches/chunk");
    for (size_t i = 0; i < n; i++) {
        const struct zcq_lab_result *x = &r[i];
        const struct zcq_lab_theory *t = zcq_lab_theory(x->method);
        char tp[40], sc[24], rc[24], sw[24], rw[24], res[16];

        if (!x->ok && !x->runs) {
            fprintf(f, "%-16s %-5s n/a: %s\n", zcq_xfer_method_name(x->method),
                    cache_name(x->cache), x->error);
            continue;
        }
        snprintf(tp, sizeof(tp), "%5.2f (%.2f-%.2f)", x->gbps_median, x->gbps_min, x->gbps_max);
        snprintf(sc, sizeof(sc), "%.3f+%.3f", per_gb(x->send.user_s, x), per_gb(x->send.sys_s, x));
        snprintf(rc, sizeof(rc), "%.3f+%.3f", per_gb(x->recv.user_s, x), per_gb(x->recv.sys_s, x));
        snprintf(sw, sizeof(sw), "%.0f+%.0f", per_gb((double)x->send.vol_csw, x),
                 per_gb((double)x->send.invol_csw, x));
        snprintf(rw, sizeof(rw), "%.0f+%.0f", per_gb((double)x->recv.vol_csw, x),
                 per_gb((double)x->recv.invol_csw, x));
        snprintf(res, sizeof(res), "%d>%d", x->resident_before_pct, x->resident_after_pct);
        fprintf(f, "%-16s %-5s %-21s %-13s %-13s %9.0f %-15s %-15s %-9s| %d (%d)       %d\n",
                zcq_xfer_method_name(x->method), cache_name(x->cache), tp, sc, rc,
                per_gb((double)x->send.syscalls, x), sw, rw, res, t->copies, t->cpu_copies,
                t->mode_switches);
        if (x->zc_sends)
            fprintf(f,
                    "%-23s MSG_ZEROCOPY: %llu sends completed, %.0f%% copied by the kernel "
                    "anyway\n",
                    "", (unsigned long long)x->zc_sends,
                    100.0 * (double)x->zc_copied / (double)x->zc_sends);
        if (!x->ok)
            fprintf(f, "%-23s stopped after %u runs: %s\n", "", x->runs, x->error);
    }
    fprintf(f, "\ntheory: copies of each byte on its way disk -> NIC (CPU copies in brackets) and "
               "user/kernel mode switches per chunk,\nfor a scatter-gather NIC; over loopback the "
               "receiver adds one CPU copy to every method. Measured ctxsw are\nscheduler "
               "context switches (getrusage), which happen when a side blocks.\n");
    if (o->dest == ZCQ_LAB_NULL)
        fprintf(f, "/dev/null keeps nothing, so its rows are not checksummed.\n");
}

static void json_num(FILE *f, const char *key, double v, int last)
{
    fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void zcq_lab_print_json(FILE *f, const struct zcq_lab_opts *o, const struct zcq_lab_result *r,
                        size_t n)
{
    fputs("[\n", f);
    for (size_t i = 0; i < n; i++) {
        const struct zcq_lab_result *x = &r[i];
        const struct zcq_lab_theory *t = zcq_lab_theory(x->method);

        fputs("  {\"method\": ", f);
        json_str(f, zcq_xfer_method_name(x->method));
        if (x->tcp_cc[0]) {
            fputs(", \"tcp_cc\": ", f);
            json_str(f, x->tcp_cc);
        }
        fprintf(f,
                ", \"cache\": \"%s\", \"to\": \"%s\", \"chunk\": %zu, \"size_bytes\": %llu, "
                "\"runs\": %u, \"ok\": %s, \"verified\": %s, ",
                cache_name(x->cache), zcq_lab_dest_name(o->dest), o->chunk,
                (unsigned long long)x->size, x->runs, x->ok ? "true" : "false",
                x->verified && x->runs ? "true" : "false");
        fputs("\"error\": ", f);
        if (x->ok)
            fputs("null", f);
        else
            json_str(f, x->error);
        fputs(", ", f);
        if (!x->runs) {
            fputs("\"throughput_gbps\": null, \"sender_cpu_s_per_gb\": null, "
                  "\"receiver_cpu_s_per_gb\": null, \"syscalls_per_gb\": null, "
                  "\"ctx_switches_per_gb\": null",
                  f);
        } else {
            fputs("\"throughput_runs_gbps\": [", f);
            for (unsigned k = 0; k < x->runs; k++)
                fprintf(f, "%s%.6g", k ? ", " : "", x->gbps[k]);
            fputs("], ", f);
            json_num(f, "throughput_gbps", x->gbps_median, 0);
            json_num(f, "throughput_min_gbps", x->gbps_min, 0);
            json_num(f, "throughput_max_gbps", x->gbps_max, 0);
            json_num(f, "sender_cpu_s_per_gb", per_gb(x->send.user_s + x->send.sys_s, x), 0);
            json_num(f, "sender_user_s_per_gb", per_gb(x->send.user_s, x), 0);
            json_num(f, "sender_sys_s_per_gb", per_gb(x->send.sys_s, x), 0);
            json_num(f, "receiver_cpu_s_per_gb", per_gb(x->recv.user_s + x->recv.sys_s, x), 0);
            json_num(f, "receiver_user_s_per_gb", per_gb(x->recv.user_s, x), 0);
            json_num(f, "receiver_sys_s_per_gb", per_gb(x->recv.sys_s, x), 0);
            json_num(f, "syscalls_per_gb", per_gb((double)x->send.syscalls, x), 0);
            json_num(f, "receiver_syscalls_per_gb", per_gb((double)x->recv.syscalls, x), 0);
            json_num(f, "ctx_switches_per_gb",
                     per_gb((double)(x->send.vol_csw + x->send.invol_csw + x->recv.vol_csw +
                                     x->recv.invol_csw),
                            x),
                     0);
            json_num(f, "sender_voluntary_ctx_switches_per_gb", per_gb((double)x->send.vol_csw, x),
                     0);
            json_num(f, "sender_involuntary_ctx_switches_per_gb",
                     per_gb((double)x->send.invol_csw, x), 0);
            json_num(f, "receiver_voluntary_ctx_switches_per_gb",
                     per_gb((double)x->recv.vol_csw, x), 0);
            json_num(f, "receiver_involuntary_ctx_switches_per_gb",
                     per_gb((double)x->recv.invol_csw, x), 0);
            json_num(f, "resident_before_pct", x->resident_before_pct, 0);
            json_num(f, "resident_after_pct", x->resident_after_pct, 0);
            json_num(f, "zc_sends", (double)x->zc_sends, 0);
            json_num(f, "zc_copied", (double)x->zc_copied, 1);
        }
        fprintf(f,
                ", \"theory_copies\": %d, \"theory_cpu_copies\": %d, "
                "\"theory_mode_switches_per_chunk\": %d}%s\n",
                t->copies, t->cpu_copies, t->mode_switches, i + 1 < n ? "," : "");
    }
    fputs("]\n", f);
}

/* --- SVG ------------------------------------------------------------------------------- */

#define W       960
#define PANEL_H 300
#define LEFT    70
#define TOP     70

static double nice_max(double v)
{
    /* Axis maxima whose quarters are round numbers. */
    static const double steps[] = {1, 2, 4, 8, 10};
    double mag = 1;

    if (v <= 0)
        return 1;
    while (mag * 10 <= v)
        mag *= 10;
    while (mag > v)
        mag /= 10;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i] * mag >= v)
            return steps[i] * mag;
    }
    return 10 * mag;
}

static void axis(FILE *f, int y0, double vmax, const char *label)
{
    int plot_w = W - LEFT - 20;

    fprintf(f,
            "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
            "text-anchor=\"middle\" class=\"ax\">%s</text>\n",
            y0 + PANEL_H / 2, y0 + PANEL_H / 2, label);
    for (int k = 0; k <= 4; k++) {
        int y = y0 + PANEL_H - k * PANEL_H / 4;

        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n", LEFT, y,
                LEFT + plot_w, y);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"tick\">%.3g</text>\n",
                LEFT - 6, y + 4, vmax * k / 4);
    }
}

int zcq_lab_write_svg(const char *path, const struct zcq_lab_opts *o,
                      const struct zcq_lab_result *r, size_t n)
{
    static const char *const cpu_colors[4] = {"#1f77b4", "#aec7e8", "#d62728", "#ff9896"};
    static const char *const cpu_names[4] = {"sender user", "sender sys", "receiver user",
                                             "receiver sys"};
    int plot_w = W - LEFT - 20;
    int h = TOP + 2 * PANEL_H + 150;
    double tmax = 0, cmax = 0, slot;
    struct utsname un;
    char date[32];
    time_t now = time(NULL);
    FILE *f = fopen(path, "w");

    if (!f)
        return -errno;
    for (size_t i = 0; i < n; i++) {
        double cpu =
            per_gb(r[i].send.user_s + r[i].send.sys_s + r[i].recv.user_s + r[i].recv.sys_s, &r[i]);

        if (r[i].runs && r[i].gbps_max > tmax)
            tmax = r[i].gbps_max;
        if (r[i].runs && cpu > cmax)
            cmax = cpu;
    }
    tmax = nice_max(tmax);
    cmax = nice_max(cmax);
    slot = n ? (double)plot_w / (double)n : plot_w;
    uname(&un);
    strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));

    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
            W, h, W, h);
    fputs("<style>.ax{font-size:13px}.tick{font-size:11px;fill:#444}.lbl{font-size:11px}"
          ".grid{stroke:#ddd}.t{font-size:16px;font-weight:bold}.s{font-size:12px;fill:#555}"
          "</style>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
          f);
    {
        char sz[32], ch[32];

        fprintf(f,
                "<text x=\"%d\" y=\"24\" class=\"t\">zcq copies: %s file to %s%s%s%s, chunk %s, "
                "median of %u runs</text>\n",
                LEFT, zcq_fmt_size(n ? r[0].size : 0, sz, sizeof(sz)), zcq_lab_dest_name(o->dest),
                tcp_cc(r, n)[0] ? " (" : "", tcp_cc(r, n), tcp_cc(r, n)[0] ? ")" : "",
                zcq_fmt_size(o->chunk, ch, sizeof(ch)), o->runs);
        fprintf(f,
                "<text x=\"%d\" y=\"44\" class=\"s\">%s %s, %ld CPUs, %s. Bars: throughput "
                "(whiskers: min-max); below: CPU seconds per GB moved.</text>\n",
                LEFT, un.sysname, un.release, sysconf(_SC_NPROCESSORS_ONLN), date);
    }

    /* Panel 1: throughput. */
    axis(f, TOP, tmax, "GB/s");
    for (size_t i = 0; i < n; i++) {
        const struct zcq_lab_result *x = &r[i];
        double bw = slot * 0.6, x0 = LEFT + slot * (double)i + slot * 0.2;
        const char *color = x->cache == ZCQ_LAB_COLD ? "#7f7f7f" : "#2ca02c";

        if (!x->runs) {
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"lbl\">n/a</text>\n",
                    x0 + bw / 2, TOP + PANEL_H - 6);
            continue;
        }
        {
            double y = TOP + PANEL_H - x->gbps_median / tmax * PANEL_H;
            double ymin = TOP + PANEL_H - x->gbps_min / tmax * PANEL_H;
            double ymax = TOP + PANEL_H - x->gbps_max / tmax * PANEL_H;

            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s %s: %.2f GB/s</title></rect>\n",
                    x0, y, bw, TOP + PANEL_H - y, color, zcq_xfer_method_name(x->method),
                    cache_name(x->cache), x->gbps_median);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                    x0 + bw / 2, ymin, x0 + bw / 2, ymax);
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"lbl\">%.2f"
                    "</text>\n",
                    x0 + bw / 2, ymax - 4, x->gbps_median);
        }
    }

    /* Panel 2: CPU per GB, stacked. */
    {
        int y0 = TOP + PANEL_H + 50;

        axis(f, y0, cmax, "CPU s/GB");
        for (size_t i = 0; i < n; i++) {
            const struct zcq_lab_result *x = &r[i];
            double parts[4] = {per_gb(x->send.user_s, x), per_gb(x->send.sys_s, x),
                               per_gb(x->recv.user_s, x), per_gb(x->recv.sys_s, x)};
            double bw = slot * 0.6, x0 = LEFT + slot * (double)i + slot * 0.2;
            double base = y0 + PANEL_H;

            if (x->runs) {
                for (int k = 0; k < 4; k++) {
                    double hh = parts[k] / cmax * PANEL_H;

                    fprintf(f,
                            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                            "fill=\"%s\"><title>%s: %.3f s/GB</title></rect>\n",
                            x0, base - hh, bw, hh, cpu_colors[k], cpu_names[k], parts[k]);
                    base -= hh;
                }
            }
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"lbl\">%s</text>\n",
                    x0 + bw / 2, y0 + PANEL_H + 16, zcq_xfer_method_name(x->method));
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"tick\">%s</text>\n",
                    x0 + bw / 2, y0 + PANEL_H + 30, cache_name(x->cache));
        }
        for (int k = 0; k < 4; k++) {
            int lx = LEFT + k * 170;

            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                    "<text x=\"%d\" y=\"%d\" class=\"lbl\">%s</text>\n",
                    lx, y0 + PANEL_H + 50, cpu_colors[k], lx + 16, y0 + PANEL_H + 60, cpu_names[k]);
        }
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#2ca02c\"/>"
                "<text x=\"%d\" y=\"%d\" class=\"lbl\">warm cache</text>"
                "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#7f7f7f\"/>"
                "<text x=\"%d\" y=\"%d\" class=\"lbl\">cold cache</text>\n",
                LEFT + 680, y0 + PANEL_H + 50, LEFT + 696, y0 + PANEL_H + 60, LEFT + 780,
                y0 + PANEL_H + 50, LEFT + 796, y0 + PANEL_H + 60);
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0)
        return -errno;
    return 0;
}
