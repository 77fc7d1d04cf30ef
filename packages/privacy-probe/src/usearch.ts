export { UsearchIndex, type UsearchIndexOptions } from "./embedding/usearch-index.js";
