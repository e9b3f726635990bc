/** Builds a sink from its checked settings. */
import { httpSink } from './http.js';
import { jenkinsSink } from './jenkins.js';
import { jiraSink } from './jira.js';
import type { Sink } from './sink.js';
import type { SinkConfig } from './sink-config.js';
import { slackSink } from './slack.js';

/** The sink for one config entry. */
export function createSink(config: SinkConfig): Sink {
  switch (config.type) {
    case 'jenkins':
      return jenkinsSink(config);
    case 'slack':
      return slackSink(config);
    case 'jira':
      return jiraSink(config);
    case 'http':
      return httpSink(config);
  }
}
