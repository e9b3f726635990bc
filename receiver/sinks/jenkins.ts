/**
 * Jenkins through its GitHub plugin: the event is posted to `…/github-webhook/` exactly as GitHub posts
 * it — the body bytes unchanged, `X-GitHub-Event`, `X-GitHub-Delivery` (the stable message id, so a
 * resubmit is recognisably the same delivery) and `X-Hub-Signature-256` over the body with the secret
 * configured in Jenkins.
 */
import { TEST_EVENT_TYPE } from '../../connector/webhook/headers.js';
import { signGithub } from '../../connector/webhook/signature-github.js';
import { targetOf } from '../config/config.js';
import { contentTypeOf, httpCall, outcomeOf } from './http-call.js';
import type { AttemptContext, Sink, SinkMessage, SinkOutcome } from './sink.js';
import type { JenkinsSinkConfig } from './sink-config.js';

/** The user agent GitHub's own deliveries carry a prefix of; the plugin does not check it. */
const USER_AGENT = 'GitHub-Hookshot/darkhook';
/** GitHub event names: lower-case words joined by `_`. Anything else is not a GitHub event. */
const GITHUB_EVENT = /^[a-z][a-z_]*$/;
/** The GitHub plugin's answers to a missing or mismatched signature ("Provided signature [...] did not match", "Signature was expected"). */
const SIGNATURE_REFUSED = /signature/i;

/** A sink that forwards GitHub events to Jenkins. */
export function jenkinsSink(config: JenkinsSinkConfig): Sink {
  return {
    name: config.name,
    type: 'jenkins',
    target: targetOf(config.url),
    skipReason(message: SinkMessage): string | undefined {
      if (message.type === TEST_EVENT_TYPE || GITHUB_EVENT.test(message.type)) return undefined;
      return `"${message.type}" is not a GitHub event name`;
    },
    async deliver(message: SinkMessage, context: AttemptContext): Promise<SinkOutcome> {
      // A test message reaches Jenkins as GitHub's own test event, which the plugin answers 200.
      const body = message.type === TEST_EVENT_TYPE ? Buffer.from(JSON.stringify({ zen: 'darkhook test', hook_id: 0 })) : message.body;
      const headers: Record<string, string> = {
        ...config.headers,
        'content-type': contentTypeOf(message.headers),
        'user-agent': USER_AGENT,
        'x-github-event': message.type === TEST_EVENT_TYPE ? 'ping' : message.type,
        'x-github-delivery': message.id,
        'x-hub-signature-256': signGithub(body, config.secret),
      };
      const answer = await httpCall(config.url, { headers, body }, context.signal);
      // The plugin answers a wrong secret with a plain 400 ("Provided signature [...] did not match"):
      // that is the sink's credential refused, as a 401 would be elsewhere, so every message would
      // fail alike. Disable the sink (deliveries wait for the secret to be fixed) instead of killing each one.
      if (answer.ok && answer.status === 400 && SIGNATURE_REFUSED.test(answer.text)) {
        return { type: 'disable', status: 400, error: 'Jenkins refused the X-Hub-Signature-256 signature: the secret differs from the one configured in Jenkins' };
      }
      return outcomeOf(answer);
    },
    async close(): Promise<void> {},
  };
}
