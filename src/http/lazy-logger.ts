import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, LevelWithSilentOrString, LogFn, Logger } from 'pino';

/**
 * Fastify makes a child logger for every request (pino's child() copies and redacts its bindings:
 * ~5 µs, the same order as the HMAC of a lookup), and on the discovery routes it is almost never
 * written to: at the default level, nothing of a call that goes well is logged. This one makes the
 * real child the first time a line at an enabled level is written, with the same bindings.
 */
export function lazyChildLoggers(app: FastifyInstance): void {
  app.setChildLoggerFactory((logger, bindings, opts) => new LazyChild(logger as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger);
}

class LazyChild {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  private real(): Logger {
    return (this.made ??= this.parent.child(this.childBindings, this.opts));
  }

  private write(level: Level, args: Parameters<LogFn>): void {
    // The parent's level, read each time: an operator may change it while the process runs.
    if (!this.parent.isLevelEnabled(level)) return;
    (this.real()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): LevelWithSilentOrString {
    return this.made ? this.made.level : this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.real().level = level;
  }

  isLevelEnabled(level: LevelWithSilentOrString): boolean {
    return this.made ? this.made.isLevelEnabled(level) : this.parent.isLevelEnabled(level);
  }

  child(bindings: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.real().child(bindings, opts);
  }

  bindings(): Bindings {
    return this.real().bindings();
  }

  fatal(...args: Parameters<LogFn>): void {
    this.write('fatal', args);
  }
  error(...args: Parameters<LogFn>): void {
    this.write('error', args);
  }
  warn(...args: Parameters<LogFn>): void {
    this.write('warn', args);
  }
  info(...args: Parameters<LogFn>): void {
    this.write('info', args);
  }
  debug(...args: Parameters<LogFn>): void {
    this.write('debug', args);
  }
  trace(...args: Parameters<LogFn>): void {
    this.write('trace', args);
  }
  silent(): void {}
}
