import type { ModelSummary } from '../api/contract.js';
import { ScreenHeading } from '../shell/ScreenHeading.js';
import { ModelCard } from './ModelCard.js';

export function ModelCatalog({ models, onPredict, onBatch }: { models: ModelSummary[]; onPredict: (modelId: string) => void; onBatch: (modelId: string) => void }) {
  return (
    <div className="screen catalog" data-screen="catalog">
      <ScreenHeading>Models</ScreenHeading>
      <p className="lead">Each model runs on encrypted values. The figures below come from cases the model never saw in training.</p>
      {models.length === 0 ? (
        <p>The provider offers no models.</p>
      ) : (
        <div className="model-list">
          {models.map((m) => (
            <ModelCard key={m.id} model={m} onPredict={() => onPredict(m.id)} {...(m.input.kind === 'features' ? { onBatch: () => onBatch(m.id) } : {})} />
          ))}
        </div>
      )}
    </div>
  );
}
