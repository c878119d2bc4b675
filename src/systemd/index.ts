// systemd integration: readiness and watchdog notifications (sd_notify).
export { SystemdNotifier, type NotifyEnv } from './notify.ts';
