from admodels.models.fedads_model import FedAdsModel, ModelConfig, PrivateUserState

__all__ = ["FedAdsModel", "ModelConfig", "PrivateUserState"]
