/**
 * Turns the engine's event stream into lines a person can follow: one line per resource
 * step (skipping unchanged ones), diagnostics and policy violations as they arrive, and on
 * a terminal an ora spinner naming what is still in flight. Without a terminal (CI, cron,
 * tests) the spinner is silent and only the lines are written.
 */
import type { EngineEvent, OpMap, OpType } from "@pulumi/pulumi/automation";
import ora, { type Ora } from "ora";

export interface OutStream {
    write(s: string): unknown;
    isTTY?: boolean;
}

export type ProgressMode = "preview" | "update" | "destroy";

const SYMBOL: Partial<Record<OpType, string>> = {
    create: "+",
    update: "~",
    delete: "-",
    replace: "+-",
    "create-replacement": "++",
    "delete-replaced": "--",
    read: ">",
    import: "=",
};

const DONE: Partial<Record<OpType, string>> = {
    create: "created",
    update: "updated",
    delete: "deleted",
    replace: "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted original",
    read: "read",
    import: "imported",
    refresh: "refreshed",
};

/** `urn:pulumi:dev::nixlab::nixlab:index:Lab$aws:ec2/instance:Instance::kvm-node-1` → `kvm-node-1` */
export function urnName(urn: string): string {
    return urn.split("::").pop() ?? urn;
}

/** Engine ops and counts as a sentence: `3 to create, 1 to update` / `3 created`. */
export function describeChanges(changes: OpMap | undefined, tense: "plan" | "done"): string {
    const parts: string[] = [];
    for (const [op, n] of Object.entries(changes ?? {})) {
        if (op === "same" || !n) continue;
        parts.push(tense === "plan" ? `${n} to ${op}` : `${n} ${DONE[op as OpType] ?? op}`);
    }
    return parts.length > 0 ? parts.join(", ") : "no changes";
}

export class Progress {
    private readonly spinner: Ora;
    private readonly inFlight = new Map<string, { label: string; started: number }>();
    /** The summary event's counts, once the engine sent it. */
    changes?: OpMap;
    /** Steps seen, for `preview --json`. */
    readonly steps: { op: OpType; type: string; name: string; urn: string }[] = [];
    readonly diagnostics: { severity: string; message: string; resource?: string }[] = [];
    readonly violations: { policy: string; level: string; message: string; resource?: string }[] = [];

    constructor(
        private readonly out: OutStream,
        private readonly mode: ProgressMode,
        private readonly opts: { now?: () => number; quiet?: boolean } = {},
    ) {
        const tty = out.isTTY === true && !opts.quiet;
        this.spinner = ora({
            stream: out as unknown as NodeJS.WritableStream,
            isEnabled: tty,
            isSilent: !tty,
            discardStdin: false,
        });
    }

    private now(): number {
        return this.opts.now?.() ?? Date.now();
    }

    private line(s: string): void {
        if (this.opts.quiet) return;
        // ora clears and redraws its spinner around writes to the stream it owns.
        this.out.write(s + "\n");
    }

    private refreshSpinner(): void {
        if (this.inFlight.size === 0) {
            if (this.spinner.isSpinning) this.spinner.stop();
            return;
        }
        const names = [...this.inFlight.values()].map((v) => v.label);
        const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? ` and ${names.length - 3} more` : "");
        this.spinner.text = `${names.length} in progress: ${shown}`;
        // Draw the new text now rather than on the next frame.
        if (this.spinner.isSpinning) this.spinner.render();
        else this.spinner.start();
    }

    /** Pass as `onEvent`. */
    readonly onEvent = (e: EngineEvent): void => {
        if (e.resourcePreEvent) {
            const m = e.resourcePreEvent.metadata;
            if (m.op === "same" || m.type === "pulumi:pulumi:Stack") return;
            const name = urnName(m.urn);
            this.steps.push({ op: m.op, type: m.type, name, urn: m.urn });
            if (this.mode === "preview" || e.resourcePreEvent.planning) {
                this.line(`  ${(SYMBOL[m.op] ?? m.op).padEnd(2)} ${m.op.padEnd(8)} ${m.type}  ${name}`);
                return;
            }
            this.inFlight.set(m.urn, { label: name, started: this.now() });
            this.refreshSpinner();
            return;
        }
        if (e.resOutputsEvent) {
            const m = e.resOutputsEvent.metadata;
            if (this.mode === "preview" || e.resOutputsEvent.planning) return;
            if (m.op === "same" || m.type === "pulumi:pulumi:Stack") return;
            const started = this.inFlight.get(m.urn)?.started;
            this.inFlight.delete(m.urn);
            const took = started === undefined ? "" : ` (${Math.round((this.now() - started) / 1000)}s)`;
            this.line(`  ✓ ${DONE[m.op] ?? m.op} ${m.type}  ${urnName(m.urn)}${took}`);
            this.refreshSpinner();
            return;
        }
        if (e.resOpFailedEvent) {
            const m = e.resOpFailedEvent.metadata;
            this.inFlight.delete(m.urn);
            this.line(`  ✗ failed to ${m.op} ${m.type}  ${urnName(m.urn)}`);
            this.refreshSpinner();
            return;
        }
        if (e.diagnosticEvent) {
            const d = e.diagnosticEvent;
            const message = d.message.trim();
            if (!message || d.ephemeral) return;
            const resource = d.urn ? urnName(d.urn) : undefined;
            this.diagnostics.push({ severity: d.severity, message, resource });
            const where = resource ? `${resource}: ` : "";
            const prefix = d.severity === "error" ? "error: " : d.severity === "warning" ? "warning: " : "";
            this.line(`${prefix}${where}${message}`);
            return;
        }
        if (e.policyEvent) {
            const p = e.policyEvent;
            const resource = p.resourceUrn ? urnName(p.resourceUrn) : undefined;
            this.violations.push({ policy: p.policyName, level: p.enforcementLevel, message: p.message.trim(), resource });
            this.line(`policy ${p.enforcementLevel}: ${p.policyName}${resource ? ` on ${resource}` : ""}: ${p.message.trim()}`);
            return;
        }
        if (e.summaryEvent) {
            this.changes = e.summaryEvent.resourceChanges;
        }
    };

    /** Stops the spinner; call once the operation ended, successfully or not. */
    finish(): void {
        this.inFlight.clear();
        if (this.spinner.isSpinning) this.spinner.stop();
    }
}
