/**
 * Invokes the offline plan answers. Only invokes that a real `pulumi preview` would make
 * are listed; any other invoke fails the plan (runOffline has no silent default).
 */
import type { CallHandler } from "./offline";

export const planInvokes: Record<string, CallHandler> = {};
