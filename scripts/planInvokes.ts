/**
 * Invokes the offline plan answers: none. An offline plan skips image builds (the only
 * invoke the program makes) and any other invoke must fail loudly rather than get a
 * made-up answer. Tests that run the plan pass this same table.
 */
import type { CallHandler } from "./offline";

export const planInvokes: Record<string, CallHandler> = {};
