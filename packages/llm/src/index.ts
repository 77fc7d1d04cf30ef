export type {
  Usage,
  ChatOptions,
  ChatResult,
  ChatModel,
  CompletionOptions,
  CompletionResult,
  CompletionModel,
  EmbeddingOptions,
  EmbeddingModel,
  ScoreItem,
  ScoreModel,
} from "./types.js";
